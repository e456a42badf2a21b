{{/*
ml-common.values.merge: THE values merge of every chart (defaults under overrides, predictor under pod,
pool defaults under a pool...). Takes a list of maps, merged left to right (later ones win), and returns
the result as JSON: {{ include "ml-common.values.merge" (list $defaults $overrides) | fromJson }}

Semantics, for each key of a later map:
- both values are maps: they are merged recursively by these same rules; an empty map changes nothing;
- any other value replaces the earlier one, including false, 0, "", [] and {} over a non-map: so an
  override can always turn a default `true` off or set a number to 0 (Sprig's merge keeps the first map's
  value whatever the second says, so a user's `false` could lose to a chart default);
- lists are replaced as a whole, never appended or merged element by element;
- null (~) means "no value": a null removes the key from the result (as `--set key=null` removes a default
  from Helm's values), and the result never holds a null inside a map (nulls inside lists are kept);
- a key missing from a later map keeps the earlier value.
A null or missing argument counts as an empty map; any other non-map argument fails the render. The
inputs are never modified and the result shares nothing with them (JSON round trip).
tests/harness/values.py `merge_values` is the same function in Python, for tests that compute values.
*/}}
{{- define "ml-common.values.merge" -}}
{{- if not (kindIs "slice" .) -}}
{{- fail (printf "ml-common.values.merge takes a list of maps, got %s: call it as (list $base $overrides)" (kindOf .)) -}}
{{- end -}}
{{- $out := dict -}}
{{- range $i, $layer := . -}}
{{- if not (kindIs "invalid" $layer) -}}
{{- if not (kindIs "map" $layer) -}}
{{- fail (printf "ml-common.values.merge: argument %d is a %s (%s), not a map" $i (kindOf $layer) (toJson $layer)) -}}
{{- end -}}
{{- range $key, $value := $layer -}}
{{- if kindIs "invalid" $value -}}
{{- $_ := unset $out $key -}}
{{- else if kindIs "map" $value -}}
{{- $current := get $out $key -}}
{{- $_ := set $out $key (include "ml-common.values.merge" (list (ternary $current (dict) (kindIs "map" $current)) $value) | fromJson) -}}
{{- else -}}
{{- $_ := set $out $key (deepCopy $value) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}
