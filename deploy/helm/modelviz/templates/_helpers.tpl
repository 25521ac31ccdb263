{{/* Object names are fixed (as in deploy/base): one operator per cluster, or per namespace when namespaced. */}}
{{- define "modelviz.name" -}}modelviz-operator{{- end -}}

{{- define "modelviz.selectorLabels" -}}
app.kubernetes.io/name: modelviz-operator
app.kubernetes.io/component: operator
{{- end -}}

{{/* deploy/base's labels, plus Helm's own (which the comparison with kustomize leaves out). */}}
{{- define "modelviz.labels" -}}
app.kubernetes.io/name: modelviz-operator
app.kubernetes.io/part-of: modelviz
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "modelviz.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "modelviz.watchNamespaces" -}}
{{- if .Values.watchNamespaces -}}
{{ .Values.watchNamespaces | join "," }}
{{- end -}}
{{- end -}}

{{/*
The namespaced rules of deploy/base/clusterrole.yaml (see there why each exists; tests/deploy/test_rbac.py derives
them from the code). The ClusterRole adds kopf's CRD watch.
*/}}
{{- define "modelviz.rules" -}}
- apiGroups: [modelviz.io]
  resources: [modelvisualizers]
  verbs: [get, list, watch, patch]
- apiGroups: [modelviz.io]
  resources: [modelvisualizers/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [configmaps, services]
  verbs: [get, list, watch, patch, create]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, patch, create]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, patch, create, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, patch, create, delete]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch, patch, create, delete]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, patch, create, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}
