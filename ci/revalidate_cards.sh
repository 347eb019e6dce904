#!/usr/bin/env bash
# Re-measure every registered card on every available backend and re-render its Markdown:
#   zoo validate NAME --json model_cards/NAME.validation.json && zoo card NAME
# (what the committed cards' figures come from; CI checks the Markdown is up to date with
# `zoo card NAME --check`). Usage: bash ci/revalidate_cards.sh [NAME ...]  (default: every card)
set -uo pipefail
cd "$(dirname "$0")/.."
VENV="${ZOO_VENV:-.venv}"
export ZOO_MIRROR="${ZOO_MIRROR:-$(cd .. && pwd)/shared/mirror}"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  mapfile -t names < <("$VENV/bin/python" -c "import zoo; print('\n'.join(zoo.list_models()))")
fi
status=0
for name in "${names[@]}"; do
  echo "== $name"
  # exit 1 (a check failed) still writes the results the card shows; 2 (usage) does not
  "$VENV/bin/zoo" validate "$name" --json "model_cards/$name.validation.json"
  rc=$?
  if [ "$rc" -ge 2 ]; then echo "zoo validate $name failed (exit $rc)"; status=1; continue; fi
  [ "$rc" -eq 1 ] && status=1
  "$VENV/bin/zoo" card "$name" || status=1
done
exit $status
