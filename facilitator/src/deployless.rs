//! A deployless call that deploys a counterfactual wallet (EIP-6492) and then simulates the transfer, in one
//! `eth_call` and with no contract of our own on chain: the call's data is creation code whose constructor
//! makes both calls and returns what they did instead of any code.

use alloy::primitives::{Address, Bytes, U256, hex};

/// The creation code, 69 bytes. Its arguments follow it: `factory`, `token`, `wallet`, `n1`, `n2` (32-byte
/// words), then the factory's calldata (`n1` bytes) and the token's (`n2` bytes). It copies them to memory 0,
/// calls the factory (ignoring the outcome), reads the size of the code now at `wallet`, calls the token, and
/// returns that size and the token call's success (two words), then the token call's return data.
///
/// ```text
/// 00 6045 38 03 6045 6000 39        CODECOPY(0, 69, CODESIZE - 69)        arguments to memory 0
/// 09 6000 6000 606051 60a0 6000 600051 5a f1 50
///                                   CALL(gas, factory, 0, 0xa0, n1, 0, 0); POP
/// 1a 604051 3b                      EXTCODESIZE(wallet)
/// 1e 6000 6000 608051 606051 60a0 01 6000 602051 5a f1
///                                   CALL(gas, token, 0, 0xa0 + n1, n2, 0, 0)
/// 32 6020 52 6000 52                MSTORE(0x20, success); MSTORE(0, size)
/// 38 3d 6000 6040 3e                RETURNDATACOPY(0x40, 0, RETURNDATASIZE)
/// 3e 3d 6040 01 6000 f3             RETURN(0, 0x40 + RETURNDATASIZE)
/// ```
pub const DEPLOY_THEN_CALL: [u8; 69] = hex!(
    "6045380360456000" "39"
    "60006000606051" "60a0" "6000" "600051" "5af150"
    "6040513b"
    "60006000608051" "60605160a001" "6000" "602051" "5af1"
    "602052600052"
    "3d600060403e"
    "3d6040016000f3"
);

/// The `eth_call` data that deploys `wallet` through `factory` with `deploy`, then calls `token` with `call`.
pub fn deploy_then_call(factory: Address, deploy: &[u8], wallet: Address, token: Address, call: &[u8]) -> Bytes {
    let mut data = DEPLOY_THEN_CALL.to_vec();
    data.extend_from_slice(factory.into_word().as_slice());
    data.extend_from_slice(token.into_word().as_slice());
    data.extend_from_slice(wallet.into_word().as_slice());
    data.extend_from_slice(&U256::from(deploy.len()).to_be_bytes::<32>());
    data.extend_from_slice(&U256::from(call.len()).to_be_bytes::<32>());
    data.extend_from_slice(deploy);
    data.extend_from_slice(call);
    data.into()
}

/// What the deployless call found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The factory left code at the wallet's address, and the transfer succeeded.
    Settles,
    /// The factory left no code at the wallet's address: its calldata deploys something else (or nothing).
    NoWallet,
    /// The wallet was deployed, but the transfer failed; its return data (a revert reason, if any).
    Reverts(Vec<u8>),
}

/// Reads the deployless call's answer.
pub fn outcome(answer: &[u8]) -> Outcome {
    let (Some(size), Some(success)) = (answer.get(..32), answer.get(32..64)) else { return Outcome::NoWallet };
    if U256::from_be_slice(size).is_zero() {
        return Outcome::NoWallet;
    }
    if U256::from_be_slice(success) == U256::from(1) {
        return Outcome::Settles;
    }
    Outcome::Reverts(answer[64..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_69_bytes_and_its_arguments_follow_it() {
        let (factory, wallet, token) =
            (Address::repeat_byte(0xfa), Address::repeat_byte(0x3a), Address::repeat_byte(0x70));
        let data = deploy_then_call(factory, &[1, 2, 3], wallet, token, &[9; 5]);
        assert_eq!(&data[..3], &[0x60, 0x45, 0x38]);
        assert_eq!(data[68], 0xf3, "the code ends with RETURN");
        assert_eq!(data.len(), 69 + 5 * 32 + 3 + 5);
        assert_eq!(&data[69 + 12..69 + 32], factory.as_slice());
        assert_eq!(&data[101 + 12..101 + 32], token.as_slice());
        assert_eq!(&data[133 + 12..133 + 32], wallet.as_slice());
        assert_eq!((data[165 + 31], data[197 + 31]), (3, 5));
        assert_eq!(&data[229..], &[1, 2, 3, 9, 9, 9, 9, 9]);
    }

    #[test]
    fn the_outcome_needs_a_wallet_and_a_transfer() {
        let word = |n: u8| {
            let mut w = vec![0u8; 32];
            w[31] = n;
            w
        };
        assert_eq!(outcome(&[word(200), word(1)].concat()), Outcome::Settles);
        assert_eq!(outcome(&[word(0), word(1)].concat()), Outcome::NoWallet);
        assert_eq!(outcome(&[word(200), word(0), b"why".to_vec()].concat()), Outcome::Reverts(b"why".to_vec()));
        assert_eq!(outcome(&[]), Outcome::NoWallet);
    }
}
