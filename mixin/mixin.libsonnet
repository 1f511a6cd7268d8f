// The huaweicloud-task-exporter monitoring mixin: prometheusAlerts, prometheusRules and
// grafanaDashboards, as kube-prometheus and the other monitoring mixins expect. Override _config
// (config.libsonnet) to adapt it; `make mixin` renders it to alerts/ and dashboards/.
(import 'config.libsonnet')
+ (import 'alerts/alerts.libsonnet')
+ (import 'rules/rules.libsonnet')
+ (import 'dashboards/dashboards.libsonnet')
