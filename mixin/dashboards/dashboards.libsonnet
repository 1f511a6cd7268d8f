// The Grafana dashboards, one file each: a new dashboard is one import line here.
(import 'overview.libsonnet')
+ (import 'detail.libsonnet')
+ (import 'history.libsonnet')
