// The overview dashboard: Grafana's JSON model as exported, with the uid, the tags and the links to the
// other dashboard taken from _config (config.libsonnet). Edit it here (or in Grafana, then paste the
// export back over this object, keeping the $._config references) and run `make mixin`.
{
  grafanaDashboards+:: {
    'huaweicloud-tasks-overview.json':
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
      "description": "Asynchronous tasks of Huawei Cloud services as seen by huaweicloud-task-exporter: states, failures, running and stuck tasks, and the exporter's own health.",
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
          "type": "row",
          "title": "Tasks",
          "collapsed": false,
          "gridPos": {
            "h": 1,
            "w": 24,
            "x": 0,
            "y": 0
          },
          "panels": []
        },
        {
          "id": 2,
          "type": "stat",
          "title": "Tasks by state",
          "description": "Tasks the exporter tracks, by normalised state (pending, running, succeeded, failed, stopped, unknown). Finished tasks stay until the exporter's finished-task TTL drops them. Needs the recording rules in alerts/huaweicloud-task-rules.yaml.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 16,
            "x": 0,
            "y": 1
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "thresholds"
              },
              "mappings": [],
              "thresholds": {
                "mode": "absolute",
                "steps": [
                  {
                    "color": "text",
                    "value": null
                  }
                ]
              },
              "unit": "short"
            },
            "overrides": [
              {
                "matcher": {
                  "id": "byName",
                  "options": "pending"
                },
                "properties": [
                  {
                    "id": "color",
                    "value": {
                      "fixedColor": "yellow",
                      "mode": "fixed"
                    }
                  }
                ]
              },
              {
                "matcher": {
                  "id": "byName",
                  "options": "running"
                },
                "properties": [
                  {
                    "id": "color",
                    "value": {
                      "fixedColor": "blue",
                      "mode": "fixed"
                    }
                  }
                ]
              },
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
              },
              {
                "matcher": {
                  "id": "byName",
                  "options": "unknown"
                },
                "properties": [
                  {
                    "id": "color",
                    "value": {
                      "fixedColor": "orange",
                      "mode": "fixed"
                    }
                  }
                ]
              }
            ]
          },
          "options": {
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {
              "calcs": [
                "lastNotNull"
              ],
              "fields": "",
              "values": false
            },
            "showPercentChange": false,
            "textMode": "value_and_name",
            "wideLayout": true
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "sum by (state) (cloud_service:huaweicloud_task_status:count{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{state}}",
              "refId": "A"
            }
          ]
        },
        {
          "id": 3,
          "type": "stat",
          "title": "Stuck tasks",
          "description": "Pending or running tasks over their service's stuck threshold (alerts/huaweicloud-task-rules.yaml, as HuaweiCloudTaskStuck uses), or over the stuck_threshold variable when it is set.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 4,
            "x": 16,
            "y": 1
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "thresholds"
              },
              "mappings": [],
              "thresholds": {
                "mode": "absolute",
                "steps": [
                  {
                    "color": "green",
                    "value": null
                  },
                  {
                    "color": "orange",
                    "value": 1
                  }
                ]
              },
              "unit": "short"
            },
            "overrides": []
          },
          "options": {
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {
              "calcs": [
                "lastNotNull"
              ],
              "fields": "",
              "values": false
            },
            "showPercentChange": false,
            "textMode": "auto",
            "wideLayout": true
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "count(\n  max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_duration_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"}) > on(cloud_service) group_left()\n  (cloud_service:huaweicloud_task_stuck_threshold_seconds:max{cloud_service=~\"$cloud_service\"} * (0 == bool $stuck_threshold) + $stuck_threshold)\n  and on(account, cloud_service, region, project_id, task_id)\n  (max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_status{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", state=~\"pending|running\"}) == 1)\n)\nor vector(0)",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "__auto",
              "refId": "A"
            }
          ]
        },
        {
          "id": 4,
          "type": "stat",
          "title": "Targets down",
          "description": "Targets (account, cloud service, region, project) whose API the exporter could not query in its last scrape: huaweicloud_task_up == 0.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 4,
            "x": 20,
            "y": 1
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "thresholds"
              },
              "mappings": [],
              "thresholds": {
                "mode": "absolute",
                "steps": [
                  {
                    "color": "green",
                    "value": null
                  },
                  {
                    "color": "red",
                    "value": 1
                  }
                ]
              },
              "unit": "short"
            },
            "overrides": []
          },
          "options": {
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {
              "calcs": [
                "lastNotNull"
              ],
              "fields": "",
              "values": false
            },
            "showPercentChange": false,
            "textMode": "auto",
            "wideLayout": true
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "count(huaweicloud_task_up{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"} == 0) or vector(0)",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "__auto",
              "refId": "A"
            }
          ]
        },
        {
          "id": 5,
          "type": "table",
          "title": "Tasks by cloud service and state",
          "description": "Current number of tasks per cloud service (rows) and state (columns).",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 0,
            "y": 5
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
              "unit": "short"
            },
            "overrides": []
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
            "showHeader": true
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "sum by (cloud_service, state) (cloud_service:huaweicloud_task_status:count{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})",
              "format": "table",
              "instant": true,
              "range": false,
              "legendFormat": "__auto",
              "refId": "A"
            }
          ],
          "transformations": [
            {
              "id": "groupingToMatrix",
              "options": {
                "columnField": "state",
                "rowField": "cloud_service",
                "valueField": "Value"
              }
            },
            {
              "id": "organize",
              "options": {
                "excludeByName": {},
                "indexByName": {
                  "cloud_service\\state": 0,
                  "pending": 1,
                  "running": 2,
                  "succeeded": 3,
                  "failed": 4,
                  "stopped": 5,
                  "unknown": 6
                },
                "renameByName": {
                  "cloud_service\\state": "Cloud service"
                }
              }
            }
          ]
        },
        {
          "id": 6,
          "type": "timeseries",
          "title": "Tasks by state over time",
          "description": "Number of tracked tasks in each state, stacked.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 12,
            "y": 5
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "axisSoftMin": 0,
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
              "unit": "short"
            },
            "overrides": [
              {
                "matcher": {
                  "id": "byName",
                  "options": "pending"
                },
                "properties": [
                  {
                    "id": "color",
                    "value": {
                      "fixedColor": "yellow",
                      "mode": "fixed"
                    }
                  }
                ]
              },
              {
                "matcher": {
                  "id": "byName",
                  "options": "running"
                },
                "properties": [
                  {
                    "id": "color",
                    "value": {
                      "fixedColor": "blue",
                      "mode": "fixed"
                    }
                  }
                ]
              },
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
              },
              {
                "matcher": {
                  "id": "byName",
                  "options": "unknown"
                },
                "properties": [
                  {
                    "id": "color",
                    "value": {
                      "fixedColor": "orange",
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
              "expr": "sum by (state) (cloud_service:huaweicloud_task_status:count{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{state}}",
              "refId": "A"
            }
          ]
        },
        {
          "id": 7,
          "type": "row",
          "title": "Failures",
          "collapsed": false,
          "gridPos": {
            "h": 1,
            "w": 24,
            "x": 0,
            "y": 13
          },
          "panels": []
        },
        {
          "id": 8,
          "type": "table",
          "title": "Failed tasks",
          "description": "Failed tasks with the resource they worked on (resource_id of huaweicloud_task_info, empty where the service names none), the error the API gave (huaweicloud_task_error_info, empty when it gave none) and when they ended (\"unknown\" for services whose API has no end time). Click a task for its detail dashboard.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 24,
            "x": 0,
            "y": 14
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
              "mappings": [
                {
                  "options": {
                    "0": {
                      "index": 0,
                      "text": "unknown"
                    }
                  },
                  "type": "value"
                }
              ],
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
              },
              {
                "matcher": {
                  "id": "byName",
                  "options": "Value"
                },
                "properties": [
                  {
                    "id": "displayName",
                    "value": "Ended"
                  }
                ]
              },
              {
                "matcher": {
                  "id": "byName",
                  "options": "Error message"
                },
                "properties": [
                  {
                    "id": "custom.width",
                    "value": 480
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
              "expr": "(\n    (\n        max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_end_timestamp_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"}) * 1000\n      or on(account, cloud_service, region, project_id, task_id)\n        max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_status{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"}) * 0\n    )\n  * on(account, cloud_service, region, project_id, task_id) group_left(error_code, error_message)\n    (\n        max by (account, cloud_service, region, project_id, task_id, error_code, error_message) (huaweicloud_task_error_info{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})\n      or on(account, cloud_service, region, project_id, task_id)\n        (max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_status{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", state=\"failed\"}) == 1)\n    )\n)\n* on(account, cloud_service, region, project_id, task_id) group_left(job_type, resource_id)\n  max by (account, cloud_service, region, project_id, task_id, job_type, resource_id) (huaweicloud_task_info{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})",
              "format": "table",
              "instant": true,
              "range": false,
              "legendFormat": "__auto",
              "refId": "A"
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
                  "error_code": 4,
                  "error_message": 5,
                  "Value": 6,
                  "account": 7,
                  "region": 8,
                  "project_id": 9
                },
                "renameByName": {
                  "task_id": "Task",
                  "cloud_service": "Cloud service",
                  "job_type": "Job type",
                  "account": "Account",
                  "region": "Region",
                  "project_id": "Project",
                  "resource_id": "Resource",
                  "error_code": "Error code",
                  "error_message": "Error message"
                }
              }
            }
          ]
        },
        {
          "id": 9,
          "type": "row",
          "title": "In progress",
          "collapsed": false,
          "gridPos": {
            "h": 1,
            "w": 24,
            "x": 0,
            "y": 22
          },
          "panels": []
        },
        {
          "id": 10,
          "type": "table",
          "title": "Running tasks",
          "description": "Tasks in state running: progress where the API reports one (empty otherwise; batch jobs count finished sub-jobs) and how long they have been running. Click a task for its detail dashboard.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 9,
            "w": 14,
            "x": 0,
            "y": 23
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
              "unit": "s"
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
              },
              {
                "matcher": {
                  "id": "byName",
                  "options": "Value #A"
                },
                "properties": [
                  {
                    "id": "displayName",
                    "value": "Progress"
                  },
                  {
                    "id": "unit",
                    "value": "percentunit"
                  },
                  {
                    "id": "min",
                    "value": 0
                  },
                  {
                    "id": "max",
                    "value": 1
                  },
                  {
                    "id": "decimals",
                    "value": 0
                  },
                  {
                    "id": "custom.cellOptions",
                    "value": {
                      "mode": "basic",
                      "type": "gauge",
                      "valueDisplayMode": "text"
                    }
                  },
                  {
                    "id": "color",
                    "value": {
                      "fixedColor": "blue",
                      "mode": "fixed"
                    }
                  },
                  {
                    "id": "custom.width",
                    "value": 220
                  }
                ]
              },
              {
                "matcher": {
                  "id": "byName",
                  "options": "Value #B"
                },
                "properties": [
                  {
                    "id": "displayName",
                    "value": "Running for"
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
                "displayName": "Running for"
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
              "expr": "  max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_progress_ratio{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})\n* on(account, cloud_service, region, project_id, task_id) group_left(job_type)\n  max by (account, cloud_service, region, project_id, task_id, job_type) (huaweicloud_task_info{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})\nand on(account, cloud_service, region, project_id, task_id)\n  (max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_status{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", state=\"running\"}) == 1)",
              "format": "table",
              "instant": true,
              "range": false,
              "legendFormat": "__auto",
              "refId": "A"
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "  max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_duration_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})\n* on(account, cloud_service, region, project_id, task_id) group_left(job_type)\n  max by (account, cloud_service, region, project_id, task_id, job_type) (huaweicloud_task_info{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})\nand on(account, cloud_service, region, project_id, task_id)\n  (max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_status{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", state=\"running\"}) == 1)",
              "format": "table",
              "instant": true,
              "range": false,
              "legendFormat": "__auto",
              "refId": "B"
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
                  "task_id": 0,
                  "cloud_service": 1,
                  "job_type": 2,
                  "Value #A": 3,
                  "Value #B": 4,
                  "account": 5,
                  "region": 6,
                  "project_id": 7
                },
                "renameByName": {
                  "task_id": "Task",
                  "cloud_service": "Cloud service",
                  "job_type": "Job type",
                  "account": "Account",
                  "region": "Region",
                  "project_id": "Project"
                }
              }
            }
          ]
        },
        {
          "id": 11,
          "type": "table",
          "title": "Running longer than their threshold",
          "description": "Pending or running tasks over their service's stuck threshold (alerts/huaweicloud-task-rules.yaml, as HuaweiCloudTaskStuck uses), or over the stuck_threshold variable when it is set (at the top).",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 9,
            "w": 10,
            "x": 14,
            "y": 23
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
              "unit": "s"
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
              },
              {
                "matcher": {
                  "id": "byName",
                  "options": "Value"
                },
                "properties": [
                  {
                    "id": "displayName",
                    "value": "Running for"
                  },
                  {
                    "id": "custom.cellOptions",
                    "value": {
                      "mode": "basic",
                      "type": "color-background"
                    }
                  },
                  {
                    "id": "color",
                    "value": {
                      "fixedColor": "orange",
                      "mode": "fixed"
                    }
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
                "displayName": "Running for"
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
              "expr": "(\n  max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_duration_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"}) > on(cloud_service) group_left()\n  (cloud_service:huaweicloud_task_stuck_threshold_seconds:max{cloud_service=~\"$cloud_service\"} * (0 == bool $stuck_threshold) + $stuck_threshold)\n)\n* on(account, cloud_service, region, project_id, task_id) group_left(job_type)\n  max by (account, cloud_service, region, project_id, task_id, job_type) (huaweicloud_task_info{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})\nand on(account, cloud_service, region, project_id, task_id)\n  (max by (account, cloud_service, region, project_id, task_id) (huaweicloud_task_status{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", state=~\"pending|running\"}) == 1)",
              "format": "table",
              "instant": true,
              "range": false,
              "legendFormat": "__auto",
              "refId": "A"
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
                  "Value": 3,
                  "account": 4,
                  "region": 5,
                  "project_id": 6
                },
                "renameByName": {
                  "task_id": "Task",
                  "cloud_service": "Cloud service",
                  "job_type": "Job type",
                  "account": "Account",
                  "region": "Region",
                  "project_id": "Project"
                }
              }
            }
          ]
        },
        {
          "id": 12,
          "type": "timeseries",
          "title": "Longest task duration by cloud service and job type",
          "description": "The longest duration among the tracked tasks of each cloud service and job type: so far for running tasks, end minus start for finished ones. Needs the recording rules in alerts/huaweicloud-task-rules.yaml.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 14,
            "x": 0,
            "y": 32
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "axisSoftMin": 0,
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
              "unit": "s"
            },
            "overrides": []
          },
          "options": {
            "legend": {
              "calcs": [
                "max",
                "lastNotNull"
              ],
              "displayMode": "table",
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
              "expr": "max by (cloud_service, job_type) (\n  cloud_service_job_type:huaweicloud_task_duration_seconds:max{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"}\n)",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{cloud_service}} / {{job_type}}",
              "refId": "A"
            }
          ]
        },
        {
          "id": 13,
          "type": "timeseries",
          "title": "Running tasks by cloud service",
          "description": "Number of tasks in state running, per cloud service.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 10,
            "x": 14,
            "y": 32
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "axisSoftMin": 0,
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
              "unit": "short"
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
              "expr": "sum by (cloud_service) (\n  cloud_service:huaweicloud_task_status:count{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", state=\"running\"}\n)",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{cloud_service}}",
              "refId": "A"
            }
          ]
        },
        {
          "id": 14,
          "type": "row",
          "title": "Exporter",
          "collapsed": false,
          "gridPos": {
            "h": 1,
            "w": 24,
            "x": 0,
            "y": 40
          },
          "panels": []
        },
        {
          "id": 15,
          "type": "state-timeline",
          "title": "Targets up",
          "description": "huaweicloud_task_up per target: UP when the exporter's last scrape reached the API and at least one query succeeded (or it had nothing to ask), DOWN otherwise. Task states of a DOWN target are the last known ones.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 0,
            "y": 41
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "thresholds"
              },
              "custom": {
                "fillOpacity": 80,
                "hideFrom": {
                  "legend": false,
                  "tooltip": false,
                  "viz": false
                },
                "lineWidth": 0,
                "spanNulls": false
              },
              "mappings": [
                {
                  "options": {
                    "0": {
                      "color": "red",
                      "index": 0,
                      "text": "DOWN"
                    },
                    "1": {
                      "color": "green",
                      "index": 1,
                      "text": "UP"
                    }
                  },
                  "type": "value"
                }
              ],
              "thresholds": {
                "mode": "absolute",
                "steps": [
                  {
                    "color": "text",
                    "value": null
                  }
                ]
              },
              "unit": "short"
            },
            "overrides": []
          },
          "options": {
            "alignValue": "left",
            "legend": {
              "displayMode": "list",
              "placement": "bottom",
              "showLegend": false
            },
            "mergeValues": true,
            "rowHeight": 0.9,
            "showValue": "never",
            "tooltip": {
              "mode": "single",
              "sort": "none"
            }
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "min by (account, cloud_service, region, project_id) (huaweicloud_task_up{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{account}} / {{cloud_service}} / {{region}} / {{project_id}}",
              "refId": "A"
            }
          ]
        },
        {
          "id": 16,
          "type": "timeseries",
          "title": "Time since the last successful poll",
          "description": "Now minus huaweicloud_task_last_success_timestamp_seconds, per target: how old the freshest answer from each API is. It grows while a target is down.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 12,
            "y": 41
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "axisSoftMin": 0,
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
              "unit": "s"
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
              "expr": "time() - max by (account, cloud_service, region, project_id) (\n  huaweicloud_task_last_success_timestamp_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"}\n)",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{account}} / {{cloud_service}} / {{region}} / {{project_id}}",
              "refId": "A"
            }
          ]
        },
        {
          "id": 17,
          "type": "timeseries",
          "title": "API requests by status code",
          "description": "Requests the exporter sent to the Huawei Cloud APIs, per second, by cloud service and HTTP status code (huaweicloud_task_api_requests_total).",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 8,
            "x": 0,
            "y": 49
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "axisSoftMin": 0,
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
              "unit": "reqps"
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
              "expr": "sum by (cloud_service, code) (\n  rate(huaweicloud_task_api_requests_total{job=~\"$job\", cloud_service=~\"$cloud_service\", region=~\"$region\"}[$__rate_interval])\n)",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{cloud_service}} {{code}}",
              "refId": "A"
            }
          ]
        },
        {
          "id": 18,
          "type": "timeseries",
          "title": "API errors by reason",
          "description": "Failed API requests per second by cloud service and reason: timeout, connect, throttled, auth, not_found, client_error, server_error, bad_response (huaweicloud_task_api_errors_total).",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 8,
            "x": 8,
            "y": 49
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "axisSoftMin": 0,
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
              "unit": "reqps"
            },
            "overrides": [
              {
                "matcher": {
                  "id": "byRegexp",
                  "options": ".* (auth|throttled)$"
                },
                "properties": [
                  {
                    "id": "custom.lineWidth",
                    "value": 2
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
              "expr": "sum by (cloud_service, reason) (\n  rate(huaweicloud_task_api_errors_total{job=~\"$job\", cloud_service=~\"$cloud_service\", region=~\"$region\"}[$__rate_interval])\n)",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{cloud_service}} {{reason}}",
              "refId": "A"
            }
          ]
        },
        {
          "id": 19,
          "type": "timeseries",
          "title": "API request latency",
          "description": "Median and 95th percentile of the API request duration by cloud service (huaweicloud_task_api_request_duration_seconds).",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 8,
            "x": 16,
            "y": 49
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "axisSoftMin": 0,
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
              "unit": "s"
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
              "expr": "histogram_quantile(0.5, sum by (cloud_service, le) (\n  rate(huaweicloud_task_api_request_duration_seconds_bucket{job=~\"$job\", cloud_service=~\"$cloud_service\", region=~\"$region\"}[$__rate_interval])\n))",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{cloud_service}} p50",
              "refId": "A"
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "histogram_quantile(0.95, sum by (cloud_service, le) (\n  rate(huaweicloud_task_api_request_duration_seconds_bucket{job=~\"$job\", cloud_service=~\"$cloud_service\", region=~\"$region\"}[$__rate_interval])\n))",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{cloud_service}} p95",
              "refId": "B"
            }
          ]
        },
        {
          "id": 20,
          "type": "timeseries",
          "title": "Scrape duration against the scrape timeout",
          "description": "How long Prometheus's scrapes of the exporter take (scrape_duration_seconds) against the scrape timeout (dashed; scrape_timeout_seconds, only with Prometheus's --enable-feature=extra-scrape-metrics), and how long the exporter spent polling each target (huaweicloud_task_scrape_duration_seconds). The exporter stops waiting shortly before the timeout; targets that did not answer keep their last known state.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 0,
            "y": 57
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "axisSoftMin": 0,
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
              "unit": "s"
            },
            "overrides": [
              {
                "matcher": {
                  "id": "byRegexp",
                  "options": ".* timeout$"
                },
                "properties": [
                  {
                    "id": "custom.lineStyle",
                    "value": {
                      "dash": [
                        10,
                        10
                      ],
                      "fill": "dash"
                    }
                  },
                  {
                    "id": "color",
                    "value": {
                      "fixedColor": "red",
                      "mode": "fixed"
                    }
                  },
                  {
                    "id": "custom.fillOpacity",
                    "value": 0
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
              "expr": "max by (instance) (scrape_duration_seconds{job=~\"$job\"})",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{instance}} scrape",
              "refId": "A"
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "max by (instance) (scrape_timeout_seconds{job=~\"$job\"})",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{instance}} timeout",
              "refId": "B"
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "max by (cloud_service, region) (\n  huaweicloud_task_scrape_duration_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"}\n)",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{cloud_service}} {{region}} poll",
              "refId": "C"
            }
          ]
        },
        {
          "id": 21,
          "type": "timeseries",
          "title": "Token requests",
          "description": "IAM token requests per second by account and result (huaweicloud_task_auth_token_requests_total). Failures mean wrong or locked credentials.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 6,
            "x": 12,
            "y": 57
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "axisSoftMin": 0,
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
              "unit": "reqps"
            },
            "overrides": [
              {
                "matcher": {
                  "id": "byRegexp",
                  "options": ".* failure$"
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
              "expr": "sum by (account, result) (\n  rate(huaweicloud_task_auth_token_requests_total{job=~\"$job\", account=~\"$account\"}[$__rate_interval])\n)",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{account}} {{result}}",
              "refId": "A"
            }
          ]
        },
        {
          "id": 22,
          "type": "timeseries",
          "title": "Tracked tasks by source",
          "description": "Tasks the exporter tracks, by cloud service and where the task ID came from: static (config), file, discovered (list APIs) or probe (/probe requests).",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 6,
            "x": 18,
            "y": 57
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "axisSoftMin": 0,
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
              "unit": "short"
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
              "expr": "sum by (cloud_service, source) (huaweicloud_task_tracked{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"})",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{cloud_service}} {{source}}",
              "refId": "A"
            }
          ]
        },
        {
          "id": 23,
          "type": "table",
          "title": "Exporter instances",
          "description": "Version of each exporter instance, whether its last configuration reload succeeded, and when the configuration was last loaded successfully.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 5,
            "w": 24,
            "x": 0,
            "y": 65
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
              "unit": "short"
            },
            "overrides": [
              {
                "matcher": {
                  "id": "byName",
                  "options": "Value #A"
                },
                "properties": [
                  {
                    "id": "displayName",
                    "value": "Last reload"
                  },
                  {
                    "id": "mappings",
                    "value": [
                      {
                        "options": {
                          "0": {
                            "color": "red",
                            "index": 0,
                            "text": "failed"
                          },
                          "1": {
                            "color": "green",
                            "index": 1,
                            "text": "succeeded"
                          }
                        },
                        "type": "value"
                      }
                    ]
                  },
                  {
                    "id": "custom.cellOptions",
                    "value": {
                      "type": "color-text"
                    }
                  }
                ]
              },
              {
                "matcher": {
                  "id": "byName",
                  "options": "Value #B"
                },
                "properties": [
                  {
                    "id": "displayName",
                    "value": "Config loaded at"
                  },
                  {
                    "id": "unit",
                    "value": "dateTimeAsIso"
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
            "showHeader": true
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "max by (instance, job) (huaweicloud_task_exporter_config_last_reload_successful{job=~\"$job\"})\n* on(instance, job) group_left(version)\nmax by (instance, job, version) (huaweicloud_task_exporter_build_info{job=~\"$job\"})",
              "format": "table",
              "instant": true,
              "range": false,
              "legendFormat": "__auto",
              "refId": "A"
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "max by (instance, job) (\n  huaweicloud_task_exporter_config_last_reload_success_timestamp_seconds{job=~\"$job\"}\n) * 1000\n* on(instance, job) group_left(version)\nmax by (instance, job, version) (huaweicloud_task_exporter_build_info{job=~\"$job\"})",
              "format": "table",
              "instant": true,
              "range": false,
              "legendFormat": "__auto",
              "refId": "B"
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
                  "instance": 0,
                  "job": 1,
                  "version": 2,
                  "Value #A": 3,
                  "Value #B": 4
                },
                "renameByName": {
                  "instance": "Instance",
                  "job": "Job",
                  "version": "Version"
                }
              }
            }
          ]
        },
        {
          "id": 24,
          "type": "timeseries",
          "title": "Cloud calls saved",
          "description": "Status queries the exporter did not send, per second, by cloud service and reason (huaweicloud_task_api_calls_saved_total): interval (the task was not due: its last answer is younger than its poll interval), shared (another scraper's refresh or a probe brought that answer: an HA pair costs one scraper), list (due tasks a list refresh answered, less its pages). Compare with API requests by status code: what the poll intervals, shared answers and list refreshes save.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 24,
            "x": 0,
            "y": 70
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "axisSoftMin": 0,
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
              "unit": "reqps"
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
              "expr": "sum by (cloud_service, reason) (\n  rate(huaweicloud_task_api_calls_saved_total{job=~\"$job\", cloud_service=~\"$cloud_service\"}[$__rate_interval])\n)",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{cloud_service}} {{reason}}",
              "refId": "A"
            }
          ]
        },
        {
          "id": 25,
          "type": "timeseries",
          "title": "Pushed messages",
          "description": "Messages the push intake got, per second, by door and result (huaweicloud_task_intake_messages_total): accepted (a job named, tracked and asked at once), duplicate, no_job, and the refusals: bad_signature, untrusted_certificate, unknown_topic, stale, malformed, too_large, rate_limited. Only refusals and no accepted message for 30 minutes: HuaweiCloudTaskExporterIntakeRefusing. Empty when the intake is off.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 24,
            "x": 0,
            "y": 78
          },
          "fieldConfig": {
            "defaults": {
              "color": {
                "mode": "palette-classic"
              },
              "custom": {
                "axisSoftMin": 0,
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
              "unit": "reqps"
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
              "expr": "sum by (source, result) (\n  rate(huaweicloud_task_intake_messages_total{job=~\"$job\"}[$__rate_interval])\n)",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{source}} {{result}}",
              "refId": "A"
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
          },
          {
            "name": "job",
            "label": "Exporter job",
            "type": "query",
            "datasource": {
              "type": "prometheus",
              "uid": "${datasource}"
            },
            "definition": "label_values(huaweicloud_task_up, job)",
            "query": {
              "query": "label_values(huaweicloud_task_up, job)",
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
            "sort": 1
          },
          {
            "name": "stuck_threshold",
            "label": "Stuck after (seconds; 0: per service)",
            "description": "0: each service's threshold from the recording rules (as the alert); else running tasks longer than this many seconds are listed as stuck.",
            "type": "custom",
            "query": "0,1800,3600,7200,14400,21600,43200,86400",
            "current": {
              "selected": true,
              "text": "0",
              "value": "0"
            },
            "hide": 0,
            "includeAll": false,
            "multi": false,
            "options": [
              {
                "selected": true,
                "text": "0",
                "value": "0"
              },
              {
                "selected": false,
                "text": "1800",
                "value": "1800"
              },
              {
                "selected": false,
                "text": "3600",
                "value": "3600"
              },
              {
                "selected": false,
                "text": "7200",
                "value": "7200"
              },
              {
                "selected": false,
                "text": "14400",
                "value": "14400"
              },
              {
                "selected": false,
                "text": "21600",
                "value": "21600"
              },
              {
                "selected": false,
                "text": "43200",
                "value": "43200"
              },
              {
                "selected": false,
                "text": "86400",
                "value": "86400"
              }
            ],
            "skipUrlSync": false
          }
        ]
      },
      "time": {
        "from": "now-6h",
        "to": "now"
      },
      "timepicker": {},
      "timezone": "utc",
      "title": "Huawei Cloud tasks / Overview",
      "uid": $._config.dashboardUidPrefix + 'overview',
      "version": 1,
      "weekStart": ""
    },
  },
}
