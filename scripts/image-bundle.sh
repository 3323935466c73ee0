#!/usr/bin/env bash
# Build the counter API and pack what the image needs to run it: compiled JS,
# production dependencies (pure JS, installed here with `npm ci --omit=dev`),
# the manifests and the pm2 file. The image then needs neither npm, nor
# registry access, nor a compiler. Reproducible: sorted, root-owned, fixed
# mtimes, normalised modes.
#
# This is the artifact CI builds once, tests (npm run image:test bakes it) and
# publishes; images/build.sh bakes that artifact, checked against its digest,
# never a rebuild on the operator's machine. Beside OUT it writes
#   OUT.sha256  the tarball's digest (sha256sum format)
#   OUT.json    {git_sha, tarball_sha256, tree_sha256, tree_dir}: tree_sha256 is
#               the deployed tree's digest as the image manifest records it
#               (scripts/image-bundle-digest.sh), and labels the image.
#
# Usage: scripts/image-bundle.sh [OUT]   (default: .cache/image/counter-api-bundle.tar.gz)
# Environment: IMAGE_BUNDLE_SKIP_BUILD=1 to reuse an existing dist/.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$repo/.cache/image/counter-api-bundle.tar.gz}
cd "$repo"

if [[ ${IMAGE_BUNDLE_SKIP_BUILD:-0} != 1 ]]; then
  npm run build --silent
fi
for f in dist/server/main.js server/ecosystem.config.cjs package.json package-lock.json; do
  [[ -f $f ]] || { echo "image-bundle: $f is missing (did npm run build succeed?)" >&2; exit 1; }
done

stage=$(mktemp -d "${TMPDIR:-/tmp}/counter-api-bundle.XXXXXX")
trap 'rm -rf -- "$stage"' EXIT
mkdir -p "$stage/server"
cp -a dist "$stage/dist"
# Source maps stay: pm2 runs node with --enable-source-maps, so stack traces
# in the logs name the TypeScript file and line.
cp package.json package-lock.json "$stage/"
cp server/ecosystem.config.cjs "$stage/server/"
(
  cd "$stage"
  npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
)

sha=$(git rev-parse HEAD 2>/dev/null || echo unknown)
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
node -e '
  const [name, version, sha, epoch] = process.argv.slice(1);
  const out = { name, version, gitSha: sha, sourceDateEpoch: Number(epoch), node: process.version };
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
' "$(node -p 'require("./package.json").name')" "$(node -p 'require("./package.json").version')" "$sha" "$epoch" > "$stage/bundle.json"

mkdir -p "$(dirname "$out")"
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner \
  --mtime="@$epoch" --mode='u+rwX,go+rX,go-w' \
  -cf - . | gzip -n -6 > "$out.partial"
mv "$out.partial" "$out"
digests=$(bash "$repo/scripts/image-bundle-digest.sh" "$out")
tar_sha=$(sed -n 's/^tarball //p' <<<"$digests")
tree_sha=$(sed -n 's/^tree //p' <<<"$digests")
(cd "$(dirname "$out")" && sha256sum "$(basename "$out")") >"$out.sha256"
node -e '
  const [gitSha, tarball, tree] = process.argv.slice(1);
  const out = { git_sha: gitSha, tarball_sha256: tarball, tree_sha256: tree, tree_dir: "/opt/counter-api" };
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
' "$sha" "$tar_sha" "$tree_sha" >"$out.json"
echo "image-bundle: $out ($(du -h "$out" | cut -f1), $(tar -tzf "$out" | wc -l) entries, git $sha)" >&2
echo "image-bundle: sha256 $tar_sha, deployed tree $tree_sha" >&2
