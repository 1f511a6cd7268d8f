// Alerting rules for huaweicloud-task-exporter (rendered to alerts/huaweicloud-task-alerts.yaml).
//
// Load them together with the recording rules (rules/rules.libsonnet) that the dashboards use. The
// metric names and labels are the contract in docs/metrics.md. Unit tests:
//   promtool test rules alerts/tests/huaweicloud-task-alerts-test.yaml
local lib = import '../lib.libsonnet';

{
  local c = $._config,
  local dashboardUrl(name, query='') = lib.join(c.grafanaUrl, '/d/' + c.dashboardUidPrefix + name + query),
  local target = '?var-account={{ $labels.account }}&var-cloud_service={{ $labels.cloud_service }}'
                 + '&var-region={{ $labels.region }}&var-project_id={{ $labels.project_id }}',
  // One task's detail, and one target's overview.
  local taskUrl = dashboardUrl('detail', target + '&var-task_id={{ $labels.task_id }}'),
  local targetUrl = dashboardUrl('overview', target),
  // Every alert links its section of docs/runbooks.md.
  local withRunbook(rule) = rule {
    annotations+: { runbook_url: lib.join(c.runbookUrl, 'docs/runbooks.md#' + std.asciiLower(rule.alert)) },
  },

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'huaweicloud-task-alerts',
        rules: std.map(withRunbook, [
          {
            alert: 'HuaweiCloudTaskFailed',
            // error_info exists only when the API said why the task failed: the `or` keeps the alert
            // (without error_code/error_message labels) for failed tasks that have no error details.
            // `unless`: a failure that a later task of the same job type on the same resource made good
            // (it succeeded after this one ended) resolves as soon as the exporter sees that success;
            // tasks without a resource are matched by job type alone, tasks without a job type (DWS) never.
            expr: |||
              (
                (
                    (huaweicloud_task_status{state="failed"} == 1)
                  * ignoring(state, error_code, error_message) group_left(error_code, error_message)
                    huaweicloud_task_error_info
                )
                or ignoring(error_code, error_message)
                (huaweicloud_task_status{state="failed"} == 1)
              )
              unless on(account, cloud_service, region, project_id, task_id)
              (
                  (
                      huaweicloud_task_end_timestamp_seconds
                    * on(account, cloud_service, region, project_id, task_id) group_left(job_type, resource_id)
                      max by (account, cloud_service, region, project_id, task_id, job_type, resource_id) (huaweicloud_task_info)
                  )
                < on(account, cloud_service, region, project_id, job_type, resource_id) group_left()
                  max by (account, cloud_service, region, project_id, job_type, resource_id) (
                    huaweicloud_task_resource_last_finished_timestamp_seconds{state="succeeded", job_type!=""}
                  )
              )
            |||,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'A Huawei Cloud task failed.',
              description: lib.fold(|||
                Task {{ $labels.task_id }} of {{ $labels.cloud_service }} in {{ $labels.region }}
                (account {{ $labels.account }}, project {{ $labels.project_id }}) failed:
                {{ with $labels.error_code }}{{ . }}: {{ $labels.error_message }}{{ else }}the API gave no error details{{ end }}
              |||),
              dashboard_url: taskUrl,
            },
          },
          {
            alert: 'HuaweiCloudTaskStuck',
            // The threshold of the task's cloud_service (rules/rules.libsonnet: its own, else the
            // default). Pending counts too: a task queued for longer than it should take is stuck as
            // well (its duration runs from the start the API reports).
            expr: |||
              (
                  huaweicloud_task_duration_seconds
                and ignoring(state)
                  (huaweicloud_task_status{state=~"pending|running"} == 1)
              )
              > on(cloud_service) group_left()
              cloud_service:huaweicloud_task_stuck_threshold_seconds:max
            |||,
            'for': c.stuckFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'A Huawei Cloud task has not finished within its threshold.',
              description: lib.fold(|||
                Task {{ $labels.task_id }} of {{ $labels.cloud_service }} in {{ $labels.region }}
                (account {{ $labels.account }}, project {{ $labels.project_id }}) has been pending or running for
                {{ $value | humanizeDuration }}, longer than the stuck threshold for {{ $labels.cloud_service }}.
              |||),
              dashboard_url: taskUrl,
            },
          },
          {
            alert: 'HuaweiCloudTaskProgressStalled',
            // The `offset` term demands a progress sample from a window ago, so that a task that
            // started 5 minutes ago is not "unchanged for 30 minutes". While the target is down the
            // exporter repeats the last known progress: HuaweiCloudTaskExporterTargetDown covers that.
            expr: |||
              (
                  huaweicloud_task_progress_ratio
                and ignoring(state)
                  (huaweicloud_task_status{state="running"} == 1)
                and
                  changes(huaweicloud_task_progress_ratio[%(window)s]) == 0
                and
                  huaweicloud_task_progress_ratio offset %(window)s
              )
              unless on(account, cloud_service, region, project_id)
              (huaweicloud_task_up == 0)
            ||| % { window: c.progressStalledWindow },
            'for': c.progressStalledFor,
            labels: { severity: 'info' },
            annotations: {
              summary: 'The progress of a running Huawei Cloud task has not changed for %s.'
                       % lib.humanize(c.progressStalledWindow),
              description: lib.fold(|||
                Task {{ $labels.task_id }} of {{ $labels.cloud_service }} in {{ $labels.region }}
                (account {{ $labels.account }}, project {{ $labels.project_id }}) is running and has stayed at
                {{ $value | humanizePercentage }} for at least %s.
              ||| % lib.humanize(c.progressStalledWindow)),
              dashboard_url: taskUrl,
            },
          },
          {
            alert: 'HuaweiCloudTaskStateUnknown',
            // A raw status the service's spec does not list (the exporter logs it once, with the
            // value): a new status of the cloud, perhaps a failure under a name the spec does not know.
            expr: 'huaweicloud_task_status{state="unknown"} == 1',
            'for': c.stateUnknownFor,
            labels: { severity: 'info' },
            annotations: {
              summary: 'The exporter cannot tell the state of a Huawei Cloud task.',
              description: lib.fold(|||
                Task {{ $labels.task_id }} of {{ $labels.cloud_service }} in {{ $labels.region }}
                (account {{ $labels.account }}, project {{ $labels.project_id }}) has answered with a status the
                exporter does not know for %s: its raw status is the raw_status label of
                huaweicloud_task_info, and the exporter's log names it. Map it in the service's spec (states:).
              ||| % lib.humanize(c.stateUnknownFor)),
              dashboard_url: taskUrl,
            },
          },
          {
            alert: 'HuaweiCloudTaskFailureRatioHigh',
            // The share of failed completions of a job type over the last hour, above the threshold
            // recorded by rules/rules.libsonnet (huaweicloud_task:failure_ratio_threshold), once at
            // least failureRatioMinFinished tasks of that job type finished in the hour (one failure of
            // one is no ratio).
            expr: |||
              (
                  cloud_service_job_type:huaweicloud_task_failure_ratio:1h
                > on() group_left()
                  max(huaweicloud_task:failure_ratio_threshold)
              )
              and
              (sum without(state) (cloud_service_job_type_state:huaweicloud_task_completions:increase1h) >= %(min)s)
            ||| % { min: c.failureRatioMinFinished },
            'for': c.failureRatioFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Many Huawei Cloud tasks of one job type fail.',
              description: lib.fold(|||
                {{ $value | humanizePercentage }} of the {{ with $labels.job_type }}{{ . }}{{ else }}untyped{{ end }}
                tasks of {{ $labels.cloud_service }} in {{ $labels.region }} (account {{ $labels.account }}, project
                {{ $labels.project_id }}) that finished in the last hour failed.
              |||),
              dashboard_url: targetUrl,
            },
          },
          {
            alert: 'HuaweiCloudTaskNoRecentSuccess',
            // Recurring work (a daily backup): how long since the last success of a job type on each
            // resource, against the maximum age recorded per (cloud_service, job_type) by
            // rules/rules.libsonnet (huaweicloud_task:success_max_age_seconds, from _config); job types
            // without one never fire. A resource is known from its latest success within
            // history.retention (7 days).
            expr: |||
              (
                  time()
                - max by (account, cloud_service, region, project_id, job_type, resource_id) (
                    huaweicloud_task_resource_last_finished_timestamp_seconds{state="succeeded"}
                  )
              )
              > on(cloud_service, job_type) group_left()
              huaweicloud_task:success_max_age_seconds
            |||,
            'for': c.noRecentSuccessFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'A recurring Huawei Cloud task has not succeeded for too long.',
              description: lib.fold(|||
                The last successful {{ $labels.job_type }} of {{ $labels.cloud_service }} on
                {{ with $labels.resource_id }}resource {{ . }}{{ else }}no particular resource{{ end }} in
                {{ $labels.region }} (account {{ $labels.account }}, project {{ $labels.project_id }}) ended
                {{ $value | humanizeDuration }} ago.
              |||),
              dashboard_url: targetUrl,
            },
          },
          {
            alert: 'HuaweiCloudTaskExporterTargetDown',
            expr: 'huaweicloud_task_up == 0',
            'for': c.targetDownFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'The exporter cannot query a Huawei Cloud service.',
              description: lib.fold(|||
                {{ $labels.instance }} has not reached the {{ $labels.cloud_service }} API in {{ $labels.region }}
                (account {{ $labels.account }}, project {{ $labels.project_id }}) for %s; the task states
                of this target are stale. huaweicloud_task_api_errors_total shows the reason.
              ||| % lib.humanize(c.targetDownFor)),
              dashboard_url: targetUrl,
            },
          },
          {
            alert: 'HuaweiCloudTaskExporterAuthFailing',
            // Two sources: a service API that answers 401/403 (account, cloud_service, region), and IAM
            // refusing to issue a token (account). The description tells them apart by the
            // cloud_service label.
            expr: |||
              increase(huaweicloud_task_api_errors_total{reason="auth"}[%(window)s]) > 0
              or
              increase(huaweicloud_task_auth_token_requests_total{result="failure"}[%(window)s]) > 0
            ||| % { window: c.authFailingWindow },
            labels: { severity: 'critical' },
            annotations: {
              summary: "Huawei Cloud rejects the exporter's credentials.",
              description: lib.fold(|||
                {{ with $labels.cloud_service }}The {{ . }} API in {{ $labels.region }} rejected the credentials
                of account {{ $labels.account }}{{ else }}IAM refused to issue a token for account
                {{ $labels.account }}{{ end }}
                in the last %s ({{ $labels.instance }}). Check the access key, secret or password:
                Huawei Cloud locks an access key after 5 failed attempts in 5 minutes.
              ||| % lib.humanize(c.authFailingWindow)),
              dashboard_url: dashboardUrl('overview'),
            },
          },
          {
            alert: 'HuaweiCloudTaskExporterThrottled',
            expr: 'increase(huaweicloud_task_api_errors_total{reason="throttled"}[%s]) > 0' % c.throttledWindow,
            'for': c.throttledFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Huawei Cloud has been throttling the exporter for %s.' % lib.humanize(c.throttledFor),
              description: lib.fold(|||
                The {{ $labels.cloud_service }} API in {{ $labels.region }} has been answering
                {{ $labels.instance }} with "too many requests" for %s. The exporter backs off, so task
                states arrive late. Track fewer tasks, scrape less often or ask for a higher API quota.
              ||| % lib.humanize(c.throttledFor)),
              dashboard_url: dashboardUrl(
                'overview', '?var-cloud_service={{ $labels.cloud_service }}&var-region={{ $labels.region }}'
              ),
            },
          },
          {
            alert: 'HuaweiCloudTaskExporterReloadFailed',
            expr: 'huaweicloud_task_exporter_config_last_reload_successful == 0',
            'for': c.reloadFailedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'The exporter could not load its changed configuration.',
              description: lib.fold(|||
                {{ $labels.instance }} has been refusing its configuration file for %s and keeps running
                the configuration it had: changes to tasks, targets or credentials are not in effect. Its log
                says what is wrong; `huaweicloud-task-exporter --config.check` checks a file.
              ||| % lib.humanize(c.reloadFailedFor)),
              dashboard_url: dashboardUrl('overview'),
            },
          },
          {
            alert: 'HuaweiCloudTaskExporterRegionDiscoveryFailing',
            expr: 'huaweicloud_task_region_discovery_successful == 0',
            'for': c.regionDiscoveryFailingFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'IAM does not give the exporter the projects of an account with regions targets.',
              description: lib.fold(|||
                {{ $labels.instance }} has not had the projects of account {{ $labels.account }} from IAM, or a
                region its 'regions' targets need has no project or several, for %s: those regions are not
                watched (or still the ones IAM listed before). Its log says what IAM answered.
              ||| % lib.humanize(c.regionDiscoveryFailingFor)),
              dashboard_url: dashboardUrl('overview'),
            },
          },
          {
            alert: 'HuaweiCloudTaskExporterIntakeRefusing',
            // Refusals a real sender's message meets when the set-up is wrong; no accepted message besides.
            expr: |||
              sum by (instance, job, source) (
                increase(huaweicloud_task_intake_messages_total{result=~"%(refused)s"}[%(window)s])
              ) > 0
              unless
              sum by (instance, job, source) (
                increase(huaweicloud_task_intake_messages_total{result="accepted"}[%(window)s])
              ) > 0
            ||| % { refused: 'bad_signature|untrusted_certificate|unknown_topic|stale', window: c.intakeRefusingWindow },
            'for': c.intakeRefusingFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'The exporter refuses every pushed message it gets.',
              description: lib.fold(|||
                {{ $labels.instance }} has refused {{ $labels.source }} messages for their signature,
                certificate, topic or age in the last %s and accepted none: pushed jobs are not heard of
                until discovery finds them. Its log line "intake message refused" names the reason.
              ||| % lib.humanize(c.intakeRefusingWindow)),
              dashboard_url: dashboardUrl('overview'),
            },
          },
          {
            alert: 'HuaweiCloudTaskExporterDown',
            // _config.exporterSelector picks the exporter's scrape job(s).
            expr: |||
              up{%(selector)s} == 0
              or
              absent(up{%(selector)s})
            ||| % { selector: c.exporterSelector },
            'for': c.exporterDownFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Prometheus cannot scrape %s.' % c.exporterName,
              description: lib.fold(|||
                {{ with $labels.instance }}Prometheus has not scraped {{ . }} (job {{ $labels.job }}) for %(for)s{{ else }}Prometheus has no target whose job matches %(name)s{{ end }}.
                No alert about Huawei Cloud tasks can fire until it is back.
              ||| % { 'for': lib.humanize(c.exporterDownFor), name: c.exporterName }),
              dashboard_url: dashboardUrl('overview'),
            },
          },
        ]),
      },
    ],
  },
}
