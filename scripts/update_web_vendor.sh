#!/usr/bin/env bash
# Refresh the web page's vendored JavaScript from the npm registry (npm's configured registry).
#   scripts/update_web_vendor.sh                 # the pinned versions below
#   scripts/update_web_vendor.sh 18.2.1 3.5.0    # marked and dompurify at these versions
# Edit the pins here when you upgrade, run it, check the page (tests/web), commit the result.
# The files are served as they come in the packages, except the trailing sourceMappingURL comment,
# which is dropped because the maps are not shipped.
set -euo pipefail
cd "$(dirname "$0")/.."
MARKED=${1:-18.2.1}
DOMPURIFY=${2:-3.5.0}
dest=chatbot_cli/web/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "marked@$MARKED" "dompurify@$DOMPURIFY" >/dev/null)
mkdir -p "$tmp/marked" "$tmp/dompurify"
tar xzf "$tmp/marked-$MARKED.tgz" -C "$tmp/marked"
tar xzf "$tmp/dompurify-$DOMPURIFY.tgz" -C "$tmp/dompurify"
strip_map() { sed '/^\/\/# sourceMappingURL=/d' "$1" > "$2"; }
strip_map "$tmp/marked/package/lib/marked.esm.js" "$dest/marked.esm.js"
cp "$tmp/marked/package/LICENSE" "$dest/marked.LICENSE"
strip_map "$tmp/dompurify/package/dist/purify.min.js" "$dest/purify.min.js"
cp "$tmp/dompurify/package/LICENSE" "$dest/dompurify.LICENSE"
cp "$tmp/dompurify/package/LICENSE-MPL" "$dest/dompurify.LICENSE-MPL"
printf 'marked %s\ndompurify %s\n' "$MARKED" "$DOMPURIFY" > "$dest/VERSIONS"
echo "vendored marked $MARKED and dompurify $DOMPURIFY into $dest"
