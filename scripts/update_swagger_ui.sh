#!/usr/bin/env bash
# Refresh the vendored Swagger UI behind /docs (chatbot_cli/server/static/swagger-ui/) from the
# npm package swagger-ui-dist (npm's configured registry).
#   scripts/update_swagger_ui.sh           # the pinned version below
#   scripts/update_swagger_ui.sh 5.36.0    # another version
# Edit the pin here when you upgrade, run it, open /docs, run tests/server/test_docs.py, commit.
# Only the files the page uses are kept, with the package's licence and notice; the trailing
# sourceMappingURL comment of the stylesheet is dropped because the maps are not shipped.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:-5.35.0}
dest=chatbot_cli/server/static/swagger-ui
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null)
tar xzf "$tmp/swagger-ui-dist-$VERSION.tgz" -C "$tmp"
rm -rf "$dest"
mkdir -p "$dest"
for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt favicon-32x32.png LICENSE NOTICE; do
  cp "$tmp/package/$f" "$dest/$f"
done
sed '/^\/\*# sourceMappingURL=.*\*\/$/d' "$tmp/package/swagger-ui.css" > "$dest/swagger-ui.css"
echo "$VERSION" > "$dest/VERSION"
echo "vendored swagger-ui-dist $VERSION into $dest"
