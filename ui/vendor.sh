#!/usr/bin/env bash
# Copies the front-end libraries the UI uses from node_modules (versions pinned in
# package.json and package-lock.json) into assets/vendor, with their licences. Run after
# `npm ci` when a version changes; the copies are committed, so building kubetrail needs no npm.
set -euo pipefail
cd "$(dirname "$0")"
out=assets/vendor
mkdir -p "$out"
cp node_modules/preact/dist/preact.module.js "$out/preact.mjs"
sed 's/from"preact"/from".\/preact.mjs"/' node_modules/preact/hooks/dist/hooks.module.js > "$out/hooks.mjs"
cp node_modules/htm/dist/htm.module.js "$out/htm.mjs"
cp node_modules/uplot/dist/uPlot.esm.js "$out/uplot.mjs"
cp node_modules/uplot/dist/uPlot.min.css "$out/uplot.css"
cp node_modules/preact/LICENSE "$out/LICENSE.preact"
cp node_modules/htm/LICENSE "$out/LICENSE.htm"
cp node_modules/uplot/LICENSE "$out/LICENSE.uplot"
for lib in preact htm uplot; do
    printf '%s %s\n' "$lib" "$(node -p "require('./node_modules/$lib/package.json').version")"
done > "$out/VERSIONS"
