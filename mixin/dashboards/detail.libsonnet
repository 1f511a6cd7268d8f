// The detail dashboard: Grafana's JSON model as exported, with the uid, the tags and the links to the
// other dashboard taken from _config (config.libsonnet). Edit it here (or in Grafana, then paste the
// export back over this object, keeping the $._config references) and run `make mixin`.
{
  grafanaDashboards+:: {
    'huaweicloud-tasks-detail.json':
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
      "description": "One Huawei Cloud task as seen by huaweicloud-task-exporter: state over time, progress, times, error and sub-jobs.",
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
          "type": "stat",
          "title": "State",
          "description": "The task's last known normalised state in the selected time range.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 4,
            "x": 0,
            "y": 0
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
              "unit": "short",
              "noValue": "not tracked"
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
            "textMode": "name",
            "wideLayout": true
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "editorMode": "code",
              "expr": "max by (state) (\n  last_over_time(huaweicloud_task_status{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", task_id=~\"$task_id\"}[$__range])\n) == 1",
              "format": "table",
              "instant": true,
              "range": false,
              "legendFormat": "{{state}}",
              "refId": "A"
            }
          ]
        },
        {
          "id": 2,
          "type": "stat",
          "title": "Progress",
          "description": "Last known progress. Empty for services whose API reports none; batch jobs count finished sub-jobs; a succeeded task is 100 %.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 4,
            "x": 4,
            "y": 0
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
              "unit": "percentunit",
              "noValue": "not reported"
            },
            "overrides": []
          },
          "options": {
            "colorMode": "value",
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
              "expr": "max(last_over_time(huaweicloud_task_progress_ratio{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", task_id=~\"$task_id\"}[$__range]))",
              "format": "table",
              "instant": true,
              "range": false,
              "legendFormat": "__auto",
              "refId": "A"
            }
          ]
        },
        {
          "id": 3,
          "type": "stat",
          "title": "Started",
          "description": "Start time as the API reports it (UTC). Empty for services whose API has no times.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 4,
            "x": 8,
            "y": 0
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
              "unit": "dateTimeAsIso",
              "noValue": "not reported"
            },
            "overrides": []
          },
          "options": {
            "colorMode": "value",
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
              "expr": "max(last_over_time(huaweicloud_task_start_timestamp_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", task_id=~\"$task_id\"}[$__range])) * 1000",
              "format": "table",
              "instant": true,
              "range": false,
              "legendFormat": "__auto",
              "refId": "A"
            }
          ]
        },
        {
          "id": 4,
          "type": "stat",
          "title": "Ended",
          "description": "End time as the API reports it (UTC). Empty while the task runs.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 4,
            "x": 12,
            "y": 0
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
              "unit": "dateTimeAsIso",
              "noValue": "not yet"
            },
            "overrides": []
          },
          "options": {
            "colorMode": "value",
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
              "expr": "max(last_over_time(huaweicloud_task_end_timestamp_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", task_id=~\"$task_id\"}[$__range])) * 1000",
              "format": "table",
              "instant": true,
              "range": false,
              "legendFormat": "__auto",
              "refId": "A"
            }
          ]
        },
        {
          "id": 5,
          "type": "stat",
          "title": "Duration",
          "description": "End minus start for a finished task; time since the start while it is pending or running.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 4,
            "x": 16,
            "y": 0
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
              "unit": "s",
              "noValue": "not reported"
            },
            "overrides": []
          },
          "options": {
            "colorMode": "value",
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
              "expr": "max(last_over_time(huaweicloud_task_duration_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", task_id=~\"$task_id\"}[$__range]))",
              "format": "table",
              "instant": true,
              "range": false,
              "legendFormat": "__auto",
              "refId": "A"
            }
          ]
        },
        {
          "id": 6,
          "type": "stat",
          "title": "Last answer",
          "description": "Time since the exporter last got a fresh answer about this task (huaweicloud_task_last_update_timestamp_seconds). Large while the API is unreachable.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 4,
            "x": 20,
            "y": 0
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
                  },
                  {
                    "color": "orange",
                    "value": 300
                  }
                ]
              },
              "unit": "s"
            },
            "overrides": []
          },
          "options": {
            "colorMode": "value",
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
              "expr": "time() - max(last_over_time(huaweicloud_task_last_update_timestamp_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", task_id=~\"$task_id\"}[$__range]))",
              "format": "table",
              "instant": true,
              "range": false,
              "legendFormat": "__auto",
              "refId": "A"
            }
          ]
        },
        {
          "id": 7,
          "type": "state-timeline",
          "title": "State over time",
          "description": "Which normalised state the task was in, over the selected time range (huaweicloud_task_status == 1).",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 6,
            "w": 24,
            "x": 0,
            "y": 4
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
                    "id": "mappings",
                    "value": [
                      {
                        "options": {
                          "1": {
                            "color": "yellow",
                            "index": 0,
                            "text": "pending"
                          }
                        },
                        "type": "value"
                      }
                    ]
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
                    "id": "mappings",
                    "value": [
                      {
                        "options": {
                          "1": {
                            "color": "blue",
                            "index": 0,
                            "text": "running"
                          }
                        },
                        "type": "value"
                      }
                    ]
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
                    "id": "mappings",
                    "value": [
                      {
                        "options": {
                          "1": {
                            "color": "green",
                            "index": 0,
                            "text": "succeeded"
                          }
                        },
                        "type": "value"
                      }
                    ]
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
                    "id": "mappings",
                    "value": [
                      {
                        "options": {
                          "1": {
                            "color": "red",
                            "index": 0,
                            "text": "failed"
                          }
                        },
                        "type": "value"
                      }
                    ]
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
                    "id": "mappings",
                    "value": [
                      {
                        "options": {
                          "1": {
                            "color": "purple",
                            "index": 0,
                            "text": "stopped"
                          }
                        },
                        "type": "value"
                      }
                    ]
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
                    "id": "mappings",
                    "value": [
                      {
                        "options": {
                          "1": {
                            "color": "orange",
                            "index": 0,
                            "text": "unknown"
                          }
                        },
                        "type": "value"
                      }
                    ]
                  }
                ]
              }
            ]
          },
          "options": {
            "alignValue": "left",
            "legend": {
              "displayMode": "list",
              "placement": "bottom",
              "showLegend": false
            },
            "mergeValues": true,
            "rowHeight": 0.8,
            "showValue": "auto",
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
              "expr": "max by (state) (huaweicloud_task_status{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", task_id=~\"$task_id\"}) == 1",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{state}}",
              "refId": "A"
            }
          ]
        },
        {
          "id": 8,
          "type": "timeseries",
          "title": "Progress over time",
          "description": "Progress over time, 0 to 100 %.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 0,
            "y": 10
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
              "unit": "percentunit",
              "min": 0,
              "max": 1
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
              "expr": "max(huaweicloud_task_progress_ratio{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", task_id=~\"$task_id\"})",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "progress",
              "refId": "A"
            }
          ]
        },
        {
          "id": 9,
          "type": "timeseries",
          "title": "Duration over time",
          "description": "huaweicloud_task_duration_seconds over time: grows while the task runs, flat once it ended.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 12,
            "y": 10
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
              "expr": "max(huaweicloud_task_duration_seconds{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", task_id=~\"$task_id\"})",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "duration",
              "refId": "A"
            }
          ]
        },
        {
          "id": 10,
          "type": "table",
          "title": "Task",
          "description": "What the API says about the task (huaweicloud_task_info): job type and name, the resource it works on, and each raw status it reported, with the last time it was seen.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 6,
            "w": 12,
            "x": 0,
            "y": 18
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
              "unit": "dateTimeAsIso",
              "noValue": "Task not found in the selected time range"
            },
            "overrides": [
              {
                "matcher": {
                  "id": "byName",
                  "options": "Value"
                },
                "properties": [
                  {
                    "id": "displayName",
                    "value": "Last seen"
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
                "displayName": "Last seen"
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
              "expr": "max by (cloud_service, job_type, job_name, resource_id, raw_status) (\n  max_over_time(timestamp(huaweicloud_task_info{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", task_id=~\"$task_id\"})[$__range:])\n) * 1000",
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
                  "cloud_service": 0,
                  "job_type": 1,
                  "job_name": 2,
                  "resource_id": 3,
                  "raw_status": 4,
                  "Value": 5
                },
                "renameByName": {
                  "cloud_service": "Cloud service",
                  "job_type": "Job type",
                  "job_name": "Job name",
                  "resource_id": "Resource",
                  "raw_status": "Raw status"
                }
              }
            }
          ]
        },
        {
          "id": 11,
          "type": "table",
          "title": "Error",
          "description": "The error code and message the API gave for a failed task (huaweicloud_task_error_info).",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 6,
            "w": 12,
            "x": 12,
            "y": 18
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
              "unit": "short",
              "noValue": "No error reported"
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
              "expr": "max by (error_code, error_message) (\n  last_over_time(huaweicloud_task_error_info{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", task_id=~\"$task_id\"}[$__range])\n)",
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
                  "Time": true,
                  "Value": true
                },
                "indexByName": {
                  "error_code": 0,
                  "error_message": 1
                },
                "renameByName": {
                  "error_code": "Error code",
                  "error_message": "Error message"
                }
              }
            }
          ]
        },
        {
          "id": 12,
          "type": "timeseries",
          "title": "Sub-tasks by state",
          "description": "Number of sub-jobs in each state (huaweicloud_task_sub_tasks); only batch jobs have sub-jobs.",
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 7,
            "w": 24,
            "x": 0,
            "y": 24
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
              "expr": "max by (state) (huaweicloud_task_sub_tasks{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\", task_id=~\"$task_id\"})",
              "format": "time_series",
              "instant": false,
              "range": true,
              "legendFormat": "{{state}}",
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
            "name": "task_id",
            "label": "Task",
            "type": "query",
            "datasource": {
              "type": "prometheus",
              "uid": "${datasource}"
            },
            "definition": "label_values(huaweicloud_task_info{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"}, task_id)",
            "query": {
              "query": "label_values(huaweicloud_task_info{account=~\"$account\", cloud_service=~\"$cloud_service\", region=~\"$region\", project_id=~\"$project_id\"}, task_id)",
              "refId": "PrometheusVariableQueryEditor-VariableQuery"
            },
            "current": {},
            "hide": 0,
            "includeAll": false,
            "multi": false,
            "options": [],
            "refresh": 2,
            "regex": "",
            "skipUrlSync": false,
            "sort": 1
          }
        ]
      },
      "time": {
        "from": "now-24h",
        "to": "now"
      },
      "timepicker": {},
      "timezone": "utc",
      "title": "Huawei Cloud tasks / Task detail",
      "uid": $._config.dashboardUidPrefix + 'detail',
      "version": 1,
      "weekStart": ""
    },
  },
}
