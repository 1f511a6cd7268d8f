// The history dashboard: what finished over time (the history families, which outlive the per-task
// series). Grafana's JSON model as exported, with the uid, the tags and the links to the detail
// dashboard taken from _config (config.libsonnet). Edit it here and run `make mixin`.
{
  grafanaDashboards+:: {
    'huaweicloud-tasks-history.json':
    {
      "annotations": {
        "list": [
          {
            "builtIn": 1,
            "datasource": {
              "type": "grafana",
              "uid": "-- Grafana --"
            },
            "enable": true,
            "hide": true,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard"
          }
        ]
      },
      "description": "What finished over time, from the history families of huaweicloud-task-exporter: completions by state, failure ratio and p95 duration per job type, a heatmap of durations, and per resource its last success and last failure. These outlive the per-task series.",
      "editable": false,
      "fiscalYearStartMonth": 0,
      "graphTooltip": 1,
      "id": null,
      "links": [
        {
          "asDropdown": false,
          "icon": "external link",
          "includeVars": true,
          "keepTime": true,
          "tags": $._config.dashboardLinkTags,
          "targetBlank": false,
          "title": "Huawei Cloud tasks",
          "tooltip": "",
          "type": "dashboards",
          "url": ""
        }
      ],
      "panels": [
        {
          "id": 1,
          "type": "timeseries",
          "title": "Completions per hour by state",
          "description": "Tasks that finished, per hour, by final state (huaweicloud_task_completions_total: each task counted once, when the exporter first learned it was final; tasks that ended before the exporter started are not counted). These series stay after the per-task series leave.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 0,
            "y": 0
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "drawStyle": "line",
                "fillOpacity": 10,
                "lineWidth": 1,
                "showPoints": "never",
                "spanNulls": false,
                "stacking": {
                  "group": "A",
                  "mode": "normal"
                }
              },
              "mappings": [],
              "unit": "short",
              "min": 0
            },
            "overrides": [
              {
                "matcher": {
                  "id": "byName",
                  "options": "succeeded"
                },
                "properties": [
                  {
                    "id": "color",
                    "value": {
                      "fixedColor": "green",
                      "mode": "fixed"
                    }
                  }
                ]
              },
              {
                "matcher": {
                  "id": "byName",
                  "options": "failed"
                },
                "properties": [
                  {
                    "id": "color",
                    "value": {
                      "fixedColor": "red",
                      "mode": "fixed"
                    }
                  }
                ]
              },
              {
                "matcher": {
                  "id": "byName",
                  "options": "stopped"
                },
                "properties": [
                  {
                    "id": "color",
                    "value": {
                      "fixedColor": "purple",
                      "mode": "fixed"
                    }
                  }
                ]
              }
            ]
          },
          "options": {
            "legend": {
              "calcs": [],
              "displayMode": "list",
              "placement": "bottom",
              "showLegend": true
            },
            "tooltip": {
              "mode": "multi",
              "sort": "desc"
            }
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "sum by (state) (rate(huaweicloud_task_completions_total{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"}[$__rate_interval])) * 3600",
              "legendFormat": "{{state}}",
              "refId": "A",
              "instant": false,
              "range": true
            }
          ]
        },
        {
          "id": 2,
          "type": "timeseries",
          "title": "Failure ratio by job type",
          "description": "The share of the tasks of each job type that finished in the last hour and failed (recording rule cloud_service_job_type_state:huaweicloud_task_completions:increase1h); no point while none finished. HuaweiCloudTaskFailureRatioHigh fires above huaweicloud_task:failure_ratio_threshold.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 12,
            "y": 0
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "drawStyle": "line",
                "fillOpacity": 10,
                "lineWidth": 1,
                "showPoints": "never",
                "spanNulls": false,
                "stacking": {
                  "group": "A",
                  "mode": "none"
                }
              },
              "mappings": [],
              "unit": "percentunit",
              "min": 0
            },
            "overrides": []
          },
          "options": {
            "legend": {
              "calcs": [],
              "displayMode": "list",
              "placement": "bottom",
              "showLegend": true
            },
            "tooltip": {
              "mode": "multi",
              "sort": "desc"
            }
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "sum by (cloud_service, job_type) (cloud_service_job_type_state:huaweicloud_task_completions:increase1h{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", state=\"failed\"})\n/\n(sum by (cloud_service, job_type) (cloud_service_job_type_state:huaweicloud_task_completions:increase1h{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"}) > 0)",
              "legendFormat": "{{cloud_service}} {{job_type}}",
              "refId": "A",
              "instant": false,
              "range": true
            }
          ]
        },
        {
          "id": 3,
          "type": "timeseries",
          "title": "p95 duration by job type",
          "description": "95th percentile of end minus start of the tasks of each job type that finished in the last day (recording rule cloud_service_job_type:huaweicloud_task_completion_duration_seconds:p95_1d, from the huaweicloud_task_completion_duration_seconds histogram).",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 0,
            "y": 8
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "drawStyle": "line",
                "fillOpacity": 10,
                "lineWidth": 1,
                "showPoints": "never",
                "spanNulls": false,
                "stacking": {
                  "group": "A",
                  "mode": "none"
                }
              },
              "mappings": [],
              "unit": "s",
              "min": 0
            },
            "overrides": []
          },
          "options": {
            "legend": {
              "calcs": [],
              "displayMode": "list",
              "placement": "bottom",
              "showLegend": true
            },
            "tooltip": {
              "mode": "multi",
              "sort": "desc"
            }
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "max by (cloud_service, job_type) (cloud_service_job_type:huaweicloud_task_completion_duration_seconds:p95_1d{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})",
              "legendFormat": "{{cloud_service}} {{job_type}}",
              "refId": "A",
              "instant": false,
              "range": true
            }
          ]
        },
        {
          "id": 4,
          "type": "heatmap",
          "title": "Completion durations",
          "description": "How long the finished tasks took (huaweicloud_task_completion_duration_seconds buckets: 1 s to 2 days by default). With Prometheus's exemplar storage on, a bucket's exemplar names its latest task.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 12,
            "y": 8
          },
          "fieldConfig": {
            "defaults": {
              "custom": {
                "hideFrom": {
                  "legend": false,
                  "tooltip": false,
                  "viz": false
                },
                "scaleDistribution": {
                  "type": "linear"
                }
              },
              "unit": "s"
            },
            "overrides": []
          },
          "options": {
            "calculate": false,
            "cellGap": 1,
            "color": {
              "exponent": 0.5,
              "fill": "dark-orange",
              "mode": "scheme",
              "reverse": false,
              "scale": "exponential",
              "scheme": "Oranges",
              "steps": 64
            },
            "exemplars": {
              "color": "rgba(255,0,255,0.7)"
            },
            "filterValues": {
              "le": 1e-09
            },
            "legend": {
              "show": true
            },
            "rowsFrame": {
              "layout": "auto"
            },
            "tooltip": {
              "mode": "single",
              "showColorScale": false,
              "yHistogram": false
            },
            "yAxis": {
              "axisPlacement": "left",
              "reverse": false,
              "unit": "s"
            }
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "sum by (le) (increase(huaweicloud_task_completion_duration_seconds_bucket{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"}[$__rate_interval]))",
              "legendFormat": "{{le}}",
              "refId": "A",
              "format": "heatmap",
              "instant": false,
              "range": true,
              "exemplar": true
            }
          ]
        },
        {
          "id": 5,
          "type": "table",
          "title": "Resources: last success and last failure",
          "description": "For each job type and resource, when its latest successful and latest failed task ended, and how long ago the last success was (huaweicloud_task_resource_last_finished_timestamp_seconds, kept 7 days after that end; empty resource: tasks without one). HuaweiCloudTaskNoRecentSuccess compares that age with huaweicloud_task:success_max_age_seconds.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 9,
            "w": 24,
            "x": 0,
            "y": 16
          },
          "fieldConfig": {
            "defaults": {
              "custom": {
                "align": "auto",
                "cellOptions": {
                  "type": "auto"
                },
                "filterable": true,
                "inspect": true
              },
              "mappings": [],
              "unit": "dateTimeAsIso"
            },
            "overrides": [
              {
                "matcher": {
                  "id": "byName",
                  "options": "Since last success"
                },
                "properties": [
                  {
                    "id": "unit",
                    "value": "s"
                  }
                ]
              }
            ]
          },
          "options": {
            "cellHeight": "sm",
            "footer": {
              "countRows": false,
              "fields": "",
              "reducer": [
                "sum"
              ],
              "show": false
            },
            "showHeader": true,
            "sortBy": [
              {
                "desc": true,
                "displayName": "Since last success"
              }
            ]
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "max by (account, cloud_service, region, project_id, job_type, resource_id) (huaweicloud_task_resource_last_finished_timestamp_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", state=\"succeeded\"}) * 1000",
              "legendFormat": "__auto",
              "refId": "A",
              "format": "table",
              "instant": true,
              "range": false
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "max by (account, cloud_service, region, project_id, job_type, resource_id) (huaweicloud_task_resource_last_finished_timestamp_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", state=\"failed\"}) * 1000",
              "legendFormat": "__auto",
              "refId": "B",
              "format": "table",
              "instant": true,
              "range": false
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "time() - max by (account, cloud_service, region, project_id, job_type, resource_id) (huaweicloud_task_resource_last_finished_timestamp_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", state=\"succeeded\"})",
              "legendFormat": "__auto",
              "refId": "C",
              "format": "table",
              "instant": true,
              "range": false
            }
          ],
          "transformations": [
            {
              "id": "merge",
              "options": {}
            },
            {
              "id": "organize",
              "options": {
                "excludeByName": {
                  "Time": true
                },
                "indexByName": {
                  "cloud_service": 0,
                  "job_type": 1,
                  "resource_id": 2,
                  "Value #A": 3,
                  "Value #B": 4,
                  "Value #C": 5,
                  "account": 6,
                  "region": 7,
                  "project_id": 8
                },
                "renameByName": {
                  "cloud_service": "Cloud service",
                  "job_type": "Job type",
                  "resource_id": "Resource",
                  "Value #A": "Last success",
                  "Value #B": "Last failure",
                  "Value #C": "Since last success",
                  "account": "Account",
                  "region": "Region",
                  "project_id": "Project"
                }
              }
            }
          ]
        },
        {
          "id": 6,
          "type": "table",
          "title": "Failed tasks still tracked",
          "description": "The failed tasks the exporter still tracks, with their job type and resource and when they ended; a later success of the same job type on the same resource (see the table above) resolves HuaweiCloudTaskFailed. Failed tasks without an end time are not listed. Click a task for its detail dashboard.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 24,
            "x": 0,
            "y": 25
          },
          "fieldConfig": {
            "defaults": {
              "custom": {
                "align": "auto",
                "cellOptions": {
                  "type": "auto"
                },
                "filterable": true,
                "inspect": true
              },
              "mappings": [],
              "unit": "dateTimeAsIso"
            },
            "overrides": [
              {
                "matcher": {
                  "id": "byName",
                  "options": "Task"
                },
                "properties": [
                  {
                    "id": "links",
                    "value": [
                      {
                        "targetBlank": false,
                        "title": "Task detail: ${__data.fields.task_id}",
                        "url": '/d/' + $._config.dashboardUidPrefix + 'detail' + "?var-account=${__data.fields.account}&var-cloud_service=${__data.fields.cloud_service}&var-region=${__data.fields.region}&var-project_id=${__data.fields.project_id}&var-task_id=${__data.fields.task_id}&${__url_time_range}"
                      }
                    ]
                  }
                ]
              }
            ]
          },
          "options": {
            "cellHeight": "sm",
            "footer": {
              "countRows": false,
              "fields": "",
              "reducer": [
                "sum"
              ],
              "show": false
            },
            "showHeader": true,
            "sortBy": [
              {
                "desc": true,
                "displayName": "Ended"
              }
            ]
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "max by (account, cloud_service, region, project_id, task_id, job_type, resource_id) (\n    (\n        max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_end_timestamp_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"}) * 1000\n      and on(account, cloud_service, region, project_id, task_id)\n        (max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_status{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", state=\"failed\"}) == 1)\n    )\n  * on(account, cloud_service, region, project_id, task_id) group_left(job_type, resource_id)\n    max by (account, cloud_service, region, project_id, task_id, job_type, resource_id) (huaweicloud_task_info{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})\n)",
              "legendFormat": "__auto",
              "refId": "A",
              "format": "table",
              "instant": true,
              "range": false
            }
          ],
          "transformations": [
            {
              "id": "organize",
              "options": {
                "excludeByName": {
                  "Time": true
                },
                "indexByName": {
                  "task_id": 0,
                  "cloud_service": 1,
                  "job_type": 2,
                  "resource_id": 3,
                  "Value": 4,
                  "account": 5,
                  "region": 6,
                  "project_id": 7
                },
                "renameByName": {
                  "task_id": "Task",
                  "cloud_service": "Cloud service",
                  "job_type": "Job type",
                  "resource_id": "Resource",
                  "Value": "Ended",
                  "account": "Account",
                  "region": "Region",
                  "project_id": "Project"
                }
              }
            }
          ]
        }
      ],
      "refresh": "1m",
      "schemaVersion": 39,
      "tags": $._config.dashboardTags,
      "templating": {
        "list": [
          {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {
              "selected": false,
              "text": "default",
              "value": "default"
            },
            "hide": 0,
            "includeAll": false,
            "multi": false,
            "options": [],
            "refresh": 1,
            "regex": "",
            "skipUrlSync": false
          },
          {
            "name": "account",
            "label": "Account",
            "type": "query",
            "datasource": {
              "type": "prometheus",
              "uid": "${datasource}"
            },
            "definition": "label_values(huaweicloud_task_up, account)",
            "query": {
              "query": "label_values(huaweicloud_task_up, account)",
              "refId": "PrometheusVariableQueryEditor-VariableQuery"
            },
            "current": {},
            "hide": 0,
            "includeAll": true,
            "multi": true,
            "options": [],
            "refresh": 2,
            "regex": "",
            "skipUrlSync": false,
            "sort": 1,
            "allValue": ".*"
          },
          {
            "name": "cloud_service",
            "label": "Cloud service",
            "type": "query",
            "datasource": {
              "type": "prometheus",
              "uid": "${datasource}"
            },
            "definition": "label_values(huaweicloud_task_up{account=~\"$account\"}, cloud_service)",
            "query": {
              "query": "label_values(huaweicloud_task_up{account=~\"$account\"}, cloud_service)",
              "refId": "PrometheusVariableQueryEditor-VariableQuery"
            },
            "current": {},
            "hide": 0,
            "includeAll": true,
            "multi": true,
            "options": [],
            "refresh": 2,
            "regex": "",
            "skipUrlSync": false,
            "sort": 1,
            "allValue": ".*"
          },
          {
            "name": "region",
            "label": "Region",
            "type": "query",
            "datasource": {
              "type": "prometheus",
              "uid": "${datasource}"
            },
            "definition": "label_values(huaweicloud_task_up{account=~\"$account\", cloud_service=~\"$cloud_service\"}, region)",
            "query": {
              "query": "label_values(huaweicloud_task_up{account=~\"$account\", cloud_service=~\"$cloud_service\"}, region)",
              "refId": "PrometheusVariableQueryEditor-VariableQuery"
            },
            "current": {},
            "hide": 0,
            "includeAll": true,
            "multi": true,
            "options": [],
            "refresh": 2,
            "regex": "",
            "skipUrlSync": false,
            "sort": 1,
            "allValue": ".*"
          },
          {
            "name": "project_id",
            "label": "Project",
            "type": "query",
            "datasource": {
              "type": "prometheus",
              "uid": "${datasource}"
            },
            "definition": "label_values(huaweicloud_task_up{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\"}, project_id)",
            "query": {
              "query": "label_values(huaweicloud_task_up{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\"}, project_id)",
              "refId": "PrometheusVariableQueryEditor-VariableQuery"
            },
            "current": {},
            "hide": 0,
            "includeAll": true,
            "multi": true,
            "options": [],
            "refresh": 2,
            "regex": "",
            "skipUrlSync": false,
            "sort": 1,
            "allValue": ".*"
          }
        ]
      },
      "time": {
        "from": "now-7d",
        "to": "now"
      },
      "timepicker": {},
      "timezone": "utc",
      "title": "Huawei Cloud tasks / History",
      "uid": $._config.dashboardUidPrefix + 'history',
      "version": 1,
      "weekStart": ""
    },
  },
}
