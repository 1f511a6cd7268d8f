// Everything a user of the mixin may want to change, in one object (kubernetes-mixin's layout):
//
//   (import 'huaweicloud-task-exporter-mixin/mixin.libsonnet') + {
//     _config+:: { exporterSelector: 'job="hwc-tasks"', grafanaUrl: 'https://grafana.example.com' },
//   }
//
// The defaults render the files shipped in alerts/ and dashboards/ (`make mixin`).
{
  _config+:: {
    // The exporter's scrape job(s), for HuaweiCloudTaskExporterDown (`up{<selector>}`), and the name the
    // alert gives it in its summary and description.
    exporterSelector: 'job=~".*huaweicloud-task-exporter.*"',
    exporterName: 'huaweicloud-task-exporter',

    // Prefixes of the alerts' links. '' keeps them paths: dashboard_url `/d/<uid>?...` on your Grafana,
    // runbook_url `docs/runbooks.md#<alert name in lower case>` in this repository. Set them to your
    // Grafana's address (https://grafana.example.com) and to where you host this repository
    // (https://git.example.com/huaweicloud-task-exporter/blob/main/) for links that work from
    // Alertmanager's messages.
    grafanaUrl: '',
    runbookUrl: '',

    // Dashboards: their tags, the tags their link menu lists, and the prefix of their uids
    // (<prefix>overview, <prefix>detail; the dashboards and the alerts link each other by uid).
    dashboardTags: ['huaweicloud', 'huaweicloud-task-exporter'],
    dashboardLinkTags: ['huaweicloud-task-exporter'],
    dashboardUidPrefix: 'hwc-tasks-',

    // HuaweiCloudTaskStuck and the overview's stuck panels: how long a task of a cloud_service may
    // normally run, in seconds. The default is for every cloud_service without one of its own (a custom
    // service); to give a custom service its own, add a field; to drop one, set it to null (the service
    // then gets the default). Each becomes a huaweicloud_task:stuck_threshold_seconds series.
    stuckThresholdDefaultSeconds: 2 * 3600,
    stuckThresholdSeconds: {
      evs: 30 * 60,  // a volume is created or expanded in seconds to minutes
      ecs: 30 * 60,  // a server is created in minutes
      bms: 2 * 3600,  // bare metal provisioning takes up to an hour
      ims: 3 * 3600,  // an image of a large disk, or an import, can take hours
      eip: 15 * 60,  // a batch of EIPs takes seconds
      sdrs: 2 * 3600,  // a protection group starts replicating within an hour
      sfs_turbo: 3600,  // a file system is created or expanded in minutes
      dcs: 3600,  // a switchover or resize takes minutes
      rds: 4 * 3600,  // backups, restores and resizes of large instances take hours
      dds: 4 * 3600,  // as RDS
      gaussdb: 6 * 3600,  // distributed instances and their backups take hours
      taurusdb: 4 * 3600,  // as RDS
      geminidb: 4 * 3600,  // as RDS
      ddm: 2 * 3600,  // node changes take up to an hour
      cce: 3600,  // a cluster takes 10-30 minutes, a node minutes
      cbr: 12 * 3600,  // backups and replications of large disks run for hours
      elb: 30 * 60,  // an upgrade takes minutes
      dli: 6 * 3600,  // SQL jobs on large tables run for hours
      mrs: 12 * 3600,  // batch jobs run for hours
      cfw: 30 * 60,  // a firewall is created in minutes
      cph: 30 * 60,  // a phone restarts or resets in minutes
      codearts_check: 2 * 3600,  // a check of a large repository takes up to an hour
      dws: 6 * 3600,  // scale-out with data redistribution and restores run for hours
      vbs: 12 * 3600,  // as CBR: backups of large volumes run for hours
      sms: 48 * 3600,  // a server's disks migrate for a day; a continuous sync (SYNCING) lasts to the cut-over
      oms: 48 * 3600,  // a bucket of millions of objects migrates for a day or more
      oms_group: 48 * 3600,  // as OMS tasks: a group's prefixes or lists migrate for days
      modelarts: 48 * 3600,  // training jobs run for hours to days
      iotda: 24 * 3600,  // a batch upgrade of thousands of devices, with retries, runs for hours
      mpc: 6 * 3600,  // transcoding a long video in several formats takes hours
      rfs: 3 * 3600,  // a stack deployment creates databases and clusters: up to hours
      dataarts_factory: 6 * 3600,  // batch job instances run for minutes to hours; a frozen one waits for ever
      cdm: 12 * 3600,  // a migration job moves a database or a bucket in hours
      codearts_pipeline: 6 * 3600,  // a run builds, tests and deploys in minutes; a review (SUSPEND) waits longer
      codearts_build: 2 * 3600,  // a build takes minutes; CodeArts stops one at its timeout
      as: 30 * 60,  // a scaling activity adds or removes servers in minutes
      cce_upgrade: 6 * 3600,  // a cluster upgrade drains and upgrades node by node; a paused one counts too
      dms_kafka: 6 * 3600,  // a scale-out or disk expansion rebalances brokers for hours
      dms_rabbitmq: 6 * 3600,  // as Kafka: instance changes
      dms_rocketmq: 6 * 3600,  // as Kafka: rolling scale-outs
    },
    stuckFor: '5m',

    // HuaweiCloudTaskProgressStalled: a running task whose progress has not changed for this long.
    progressStalledWindow: '30m',
    progressStalledFor: '5m',

    // HuaweiCloudTaskStateUnknown: how long a task may answer with a status its spec does not list.
    stateUnknownFor: '30m',

    // HuaweiCloudTaskFailureRatioHigh: the share of failed completions of a job type in an hour above
    // which it fires (recorded as huaweicloud_task:failure_ratio_threshold), once this many finished.
    failureRatioThreshold: 0.25,
    failureRatioMinFinished: 3,
    failureRatioFor: '15m',

    // HuaweiCloudTaskNoRecentSuccess: how long a resource may go without a successful task of a job
    // type, per cloud_service and job_type, in seconds; for recurring work only: a job type without one
    // never fires. Each becomes a huaweicloud_task:success_max_age_seconds series.
    successMaxAgeSeconds: {
      cbr: {
        backup: 26 * 3600,  // CBR backs a resource up daily (a policy's usual schedule)
      },
    },
    noRecentSuccessFor: '5m',

    // The exporter's own health.
    targetDownFor: '10m',
    authFailingWindow: '10m',
    throttledWindow: '10m',
    throttledFor: '15m',
    reloadFailedFor: '5m',
    regionDiscoveryFailingFor: '30m',
    intakeRefusingWindow: '30m',  // pushed messages refused for their signature, certificate, topic or age
    intakeRefusingFor: '15m',
    exporterDownFor: '5m',
  },
}
