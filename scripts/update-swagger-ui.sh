#!/usr/bin/env bash
# Replace the vendored Swagger UI (chatbot_cli/server/static/swagger-ui/) with the npm package
# swagger-ui-dist at the version given, e.g. `bash scripts/update-swagger-ui.sh 5.35.0`.
# Only the files /docs serves are kept, with the package's licence and notice. Review the diff,
# open /docs, and run tests/server/test_docs.py before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: $0 VERSION (see: npm view swagger-ui-dist version)}
dest=chatbot_cli/server/static/swagger-ui
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$version" >/dev/null && tar xzf ./*.tgz)
got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
  "$work/package/package.json")
[ "$got" = "$version" ] || { echo "npm gave version $got, not $version" >&2; exit 1; }
rm -rf "$dest"
mkdir -p "$dest"
for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css \
  favicon-32x32.png LICENSE NOTICE; do
  cp "$work/package/$f" "$dest/$f"
done
echo "$version" > "$dest/VERSION"
echo "Swagger UI $version vendored in $dest"
