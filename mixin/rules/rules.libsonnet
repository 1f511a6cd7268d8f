// Recording rules for huaweicloud-task-exporter (rendered to alerts/huaweicloud-task-rules.yaml), used
// by the alerts and the Grafana dashboards.
//
// The rules keep account, cloud_service, region and project_id so that the dashboards' variables can
// still filter them. Each inner `max by (..., task_id)` counts a task once even when two exporter
// replicas (or /metrics and /probe) expose it. Unit tests:
//   promtool test rules alerts/tests/huaweicloud-task-alerts-test.yaml
{
  local c = $._config,
  // One constant series per row of a _config table (null rows dropped).
  local constant(record, value, labels={}) = {
    record: record,
    expr: 'vector(%s)' % value,
  } + (if labels == {} then {} else { labels: labels }),

  prometheusRules+:: {
    groups+: [
      // Thresholds for HuaweiCloudTaskStuck and the overview dashboard's stuck panels, as series so
      // that one alert serves every cloud_service: how long a task of the service may normally run
      // (_config.stuckThresholdDefaultSeconds and stuckThresholdSeconds).
      {
        name: 'huaweicloud-task-thresholds',
        rules: [
          // The default for every cloud_service without a threshold of its own (a custom service).
          constant('huaweicloud_task:stuck_threshold_seconds', c.stuckThresholdDefaultSeconds),
        ] + [
          // Per service: one rule each, with a cloud_service label.
          constant('huaweicloud_task:stuck_threshold_seconds', c.stuckThresholdSeconds[service], { cloud_service: service })
          for service in std.objectFields(c.stuckThresholdSeconds)
          if c.stuckThresholdSeconds[service] != null
        ],
      },

      // Thresholds of the history alerts, as series (as the stuck thresholds are).
      {
        name: 'huaweicloud-task-history-thresholds',
        rules: [
          // HuaweiCloudTaskFailureRatioHigh: the share of failed completions of a job type in an hour
          // above which it fires.
          constant('huaweicloud_task:failure_ratio_threshold', c.failureRatioThreshold),
        ] + [
          // HuaweiCloudTaskNoRecentSuccess: how long a resource may go without a successful task of a
          // job type, for recurring work only; a job type without a rule here never fires. One rule
          // each, with cloud_service and job_type labels.
          constant(
            'huaweicloud_task:success_max_age_seconds',
            c.successMaxAgeSeconds[service][jobType],
            { cloud_service: service, job_type: jobType },
          )
          for service in std.objectFields(c.successMaxAgeSeconds)
          if c.successMaxAgeSeconds[service] != null
          for jobType in std.objectFields(c.successMaxAgeSeconds[service])
          if c.successMaxAgeSeconds[service][jobType] != null
        ],
      },

      {
        name: 'huaweicloud-task.rules',
        rules: [
          // Number of tasks in each state. All six state series exist for every task, so a state with
          // no tasks is 0, not missing, as long as the target has any task at all.
          {
            record: 'cloud_service:huaweicloud_task_status:count',
            expr: |||
              sum by (account, cloud_service, region, project_id, state) (
                max by (account, cloud_service, region, project_id, task_id, state) (huaweicloud_task_status)
              )
            |||,
          },
          // Longest duration among the tasks of each job type (running tasks: so far; finished tasks:
          // end - start, until the exporter drops them).
          {
            record: 'cloud_service_job_type:huaweicloud_task_duration_seconds:max',
            expr: |||
              max by (account, cloud_service, region, project_id, job_type) (
                  max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_duration_seconds)
                * on(account, cloud_service, region, project_id, task_id) group_left(job_type)
                  max by (account, cloud_service, region, project_id, task_id, job_type) (huaweicloud_task_info)
              )
            |||,
          },
          // The stuck threshold of each cloud_service: its own, else the default, for every
          // cloud_service that has tasks. HuaweiCloudTaskStuck and the overview dashboard compare
          // durations with it.
          {
            record: 'cloud_service:huaweicloud_task_stuck_threshold_seconds:max',
            expr: |||
              max by (cloud_service) (huaweicloud_task:stuck_threshold_seconds{cloud_service!=""})
              or on(cloud_service)
              (
                  count by (cloud_service) (huaweicloud_task_duration_seconds) * 0
                + on() group_left()
                  max(huaweicloud_task:stuck_threshold_seconds{cloud_service=""})
              )
            |||,
          },
        ],
      },

      // What finished, over time (huaweicloud_task_completions_total and its histogram, which outlive
      // the per-task series). Summed over instances: shards count disjoint tasks. Two replicas of one
      // exporter (an HA pair) count the same tasks twice; select one replica's job or instance for these.
      {
        name: 'huaweicloud-task-history.rules',
        rules: [
          {
            record: 'cloud_service_job_type_state:huaweicloud_task_completions:increase%s' % window,
            expr: |||
              sum by (account, cloud_service, region, project_id, job_type, state) (
                increase(huaweicloud_task_completions_total[%s])
              )
            ||| % window,
          }
          for window in ['1h', '1d']
        ] + [
          // The share of completions that failed; absent while none finished.
          {
            record: 'cloud_service_job_type:huaweicloud_task_failure_ratio:%s' % window,
            expr: |||
              sum without(state) (cloud_service_job_type_state:huaweicloud_task_completions:increase%(w)s{state="failed"})
              /
              (sum without(state) (cloud_service_job_type_state:huaweicloud_task_completions:increase%(w)s) > 0)
            ||| % { w: window },
          }
          for window in ['1h', '1d']
        ] + [
          // How long the tasks of a job type took, over a day (all final states).
          {
            record: 'cloud_service_job_type:huaweicloud_task_completion_duration_seconds:p%s_1d' % q.name,
            expr: |||
              histogram_quantile(%s,
                sum by (account, cloud_service, region, project_id, job_type, le) (
                  increase(huaweicloud_task_completion_duration_seconds_bucket[1d])
                )
              )
            ||| % q.quantile,
          }
          for q in [{ name: '50', quantile: '0.5' }, { name: '95', quantile: '0.95' }]
        ] + [
          // Seconds since the latest successful task of each job type on each resource.
          {
            record: 'resource:huaweicloud_task_since_last_success_seconds',
            expr: |||
              time()
              - max by (account, cloud_service, region, project_id, job_type, resource_id) (
                huaweicloud_task_resource_last_finished_timestamp_seconds{state="succeeded"}
              )
            |||,
          },
        ],
      },
    ],
  },
}
