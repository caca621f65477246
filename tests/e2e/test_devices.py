"""paywire on a microcontroller: the Cortex-M4F firmware examples (devices/cortex-m in Rust, devices/c on the C
API), built by scripts/devices.sh and run under QEMU (mps2-an386, 64 KiB of RAM) with semihosting.

They pay a bill and check the payment offline on the emulated device. Their headers must be byte for byte
what the host's CLI signs, and a payment made on the device must settle on anvil through paywire's
facilitator when a real paywire server takes it.

PAYWIRE_FIRMWARE_DIR names the folder of the built images (target/thumbv7em-none-eabihf/release)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import Dict

import httpx
import parties
import pytest
from conftest import PAY_TO, PRICE_ATOMIC, Chain, Facilitator, balances, charged_once, payer_key
from localnet import env

import paywire

FIRMWARE = {"rust": "paywire-firmware-example", "c": "c/paywire-c-example.elf"}
NOW = 1_760_000_000
NONCE = "0x" + "ab" * 32


def run_device(kind: str, tmp_path: Path, **fields: str) -> Dict[str, str]:
    """Runs a firmware image on the emulated board with `fields` as its input file; returns its output
    lines as a dict (`header`, `value`, `verified`, `heap_peak_bytes`, `stack_peak_bytes`, or `error`)."""
    image = Path(env("PAYWIRE_FIRMWARE_DIR")) / FIRMWARE[kind]
    assert image.exists(), f"{image} is missing: run scripts/devices.sh"
    source = tmp_path / f"input-{kind}.txt"
    source.write_text("".join(f"{k}={v}\n" for k, v in fields.items()))
    run = subprocess.run(
        ["qemu-system-arm", "-machine", "mps2-an386", "-cpu", "cortex-m4", "-nographic", "-monitor", "none",
         "-serial", "none", "-semihosting-config", f"enable=on,target=native,arg={source}", "-kernel", str(image)],
        capture_output=True, text=True, timeout=120)
    lines = dict(line.split("=", 1) for line in run.stdout.replace("\r", "").splitlines() if "=" in line)
    assert (run.returncode == 0) == ("error" not in lines and "panic" not in lines), run.stdout + run.stderr
    return lines


def host_pays(bill: str, key: str) -> str:
    """What the host's CLI signs for the same bill, key, time and nonce."""
    run = subprocess.run([env("PAYWIRE_BIN"), "pay", "--key-env", "PAYWIRE_KEY", "--bill", bill, "--now", str(NOW),
                          "--nonce", NONCE, "--value-only"], env={**os.environ, "PAYWIRE_KEY": key},
                         capture_output=True, text=True, check=True)
    return run.stdout.strip()


@pytest.mark.parametrize("kind", ["rust", "c"])
@pytest.mark.parametrize("version", [2, 1])
def test_the_device_signs_what_the_host_signs_byte_for_byte(kind: str, version: int, tmp_path: Path) -> None:
    tag = paywire.PriceTag("eip155:84532", PAY_TO, "$0.01")
    bill = paywire.build_payment_required("http://device.test/data", [tag], x402_version=version)
    key = "0x" + secrets.token_hex(32)
    field = {"bill": bill.to_header()} if version == 2 else {"body": bill.to_json()}
    out = run_device(kind, tmp_path, **field, key=key, policy="{}", now=str(NOW), nonce=NONCE)
    assert out["header"] == ("PAYMENT-SIGNATURE" if version == 2 else "X-PAYMENT")
    assert out["value"] == host_pays(next(iter(field.values())), key)
    # The device's own offline check found the payer.
    assert out["verified"].lower() == paywire.LocalSigner(key).address.lower()
    # The figures docs/benchmarks.md reports; the board has 64 KiB of RAM in all.
    assert int(out["heap_peak_bytes"]) + int(out["stack_peak_bytes"]) < 64 * 1024


@pytest.mark.parametrize("kind", ["rust", "c"])
def test_the_device_refuses_a_bill_over_its_policy_with_the_reason(kind: str, tmp_path: Path) -> None:
    bill = paywire.build_payment_required("http://device.test/data", [paywire.PriceTag("eip155:84532", PAY_TO, "$2")])
    out = run_device(kind, tmp_path, bill=bill.to_header(), key="0x" + "11" * 32,
                     policy=json.dumps({"maxPerPayment": "$1"}), now=str(NOW), nonce=NONCE)
    assert "value" not in out
    assert out["error"].startswith("no_acceptable_offer"), out


@pytest.mark.parametrize("kind", ["rust", "c"])
def test_the_device_refuses_malformed_input_without_crashing(kind: str, tmp_path: Path) -> None:
    for bill in ["", "not base64 !", "eyJ4NDAyVmVyc2lvbiI6Mn0=", "e" * 9000]:
        out = run_device(kind, tmp_path, bill=bill, key="0x" + "11" * 32, policy="{}", now=str(NOW), nonce=NONCE)
        assert "error" in out and "panic" not in out, out


@pytest.mark.parametrize("kind", ["rust", "c"])
def test_a_payment_made_on_the_device_settles_on_anvil(kind: str, chain: Chain, facilitator: Facilitator,
                                                         tmp_path: Path) -> None:
    key = payer_key()
    payer = paywire.LocalSigner(key).address
    before = balances(chain, payer)
    with parties.python_asgi(facilitator.url, PAY_TO) as server:
        bill = httpx.get(server.url(), timeout=30)
        assert bill.status_code == 402
        out = run_device(kind, tmp_path, bill=bill.headers["payment-required"], key=key, policy="{}",
                         now=str(int(time.time())), nonce="0x" + secrets.token_hex(32))
        paid = httpx.get(server.url(), headers={out["header"]: out["value"]}, timeout=60)
        assert paid.status_code == 200, paid.text
        settled = paywire.SettleResponse.from_header(paid.headers["payment-response"])
        charged_once(chain, settled.transaction, payer, before)
        # The same header again is the same payment: served from the server's record, not charged again.
        again = httpx.get(server.url(), headers={out["header"]: out["value"]}, timeout=60)
        assert again.status_code in (200, 402, 409)
        assert balances(chain, payer) == (before[0] - PRICE_ATOMIC, before[1] + PRICE_ATOMIC)
