//! A deployless call that deploys a counterfactual wallet (EIP-6492) and then simulates the transfer, in one
//! `eth_call` and with no contract of our own on chain: the call's data is creation code whose constructor
//! makes both calls and returns the transfer's outcome instead of any code.

use alloy::primitives::{Address, Bytes, U256, hex};

/// The creation code, 62 bytes. Its arguments follow it: `factory`, `token`, `n1`, `n2` (32-byte words), then
/// the factory's calldata (`n1` bytes) and the token's (`n2` bytes). It copies them to memory 0, calls the
/// factory (ignoring the outcome: the wallet may exist already), calls the token, and returns the token
/// call's success as a 32-byte word followed by its return data.
///
/// ```text
/// 00 603e 38 03 603e 6000 39        CODECOPY(0, 62, CODESIZE - 62)        arguments to memory 0
/// 09 6000 6000 604051 6080 6000 600051 5a f1 50
///                                   CALL(gas, factory, 0, 128, n1, 0, 0); POP
/// 1a 6000 6000 606051 604051 6080 01 6000 602051 5a f1
///                                   CALL(gas, token, 0, 128 + n1, n2, 0, 0)
/// 2e 6000 52                        MSTORE(0, success)
/// 31 3d 6000 6020 3e                RETURNDATACOPY(32, 0, RETURNDATASIZE)
/// 37 3d 6020 01 6000 f3             RETURN(0, 32 + RETURNDATASIZE)
/// ```
pub const DEPLOY_THEN_CALL: [u8; 62] = hex!(
    "603e3803603e600039"
    "60006000604051608060006000515af150"
    "6000600060605160405160800160006020515af1"
    "600052"
    "3d600060203e"
    "3d6020016000f3"
);

/// The `eth_call` data that deploys through `factory` with `deploy`, then calls `token` with `call`.
pub fn deploy_then_call(factory: Address, deploy: &[u8], token: Address, call: &[u8]) -> Bytes {
    let mut data = DEPLOY_THEN_CALL.to_vec();
    data.extend_from_slice(factory.into_word().as_slice());
    data.extend_from_slice(token.into_word().as_slice());
    data.extend_from_slice(&U256::from(deploy.len()).to_be_bytes::<32>());
    data.extend_from_slice(&U256::from(call.len()).to_be_bytes::<32>());
    data.extend_from_slice(deploy);
    data.extend_from_slice(call);
    data.into()
}

/// Reads the deployless call's answer: `Ok(())` when the token call succeeded, else its return data (a
/// revert reason, when it gave one).
pub fn outcome(answer: &[u8]) -> Result<(), Vec<u8>> {
    match answer.get(..32) {
        Some(word) if U256::from_be_slice(word) == U256::from(1) => Ok(()),
        Some(_) => Err(answer[32..].to_vec()),
        None => Err(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_62_bytes_and_its_arguments_follow_it() {
        let factory = Address::repeat_byte(0xfa);
        let token = Address::repeat_byte(0x70);
        let data = deploy_then_call(factory, &[1, 2, 3], token, &[9; 5]);
        assert_eq!(&data[..3], &[0x60, 0x3e, 0x38]);
        assert_eq!(data.len(), 62 + 4 * 32 + 3 + 5);
        assert_eq!(data[61], 0xf3, "the code ends with RETURN");
        assert_eq!(&data[62 + 12..62 + 32], factory.as_slice());
        assert_eq!(&data[94 + 12..94 + 32], token.as_slice());
        assert_eq!(data[62 + 95], 3);
        assert_eq!(data[62 + 127], 5);
        assert_eq!(&data[190..], &[1, 2, 3, 9, 9, 9, 9, 9]);
    }

    #[test]
    fn the_outcome_is_the_first_word() {
        let mut ok = vec![0u8; 32];
        ok[31] = 1;
        assert_eq!(outcome(&ok), Ok(()));
        let mut failed = vec![0u8; 32];
        failed.extend_from_slice(b"reason");
        assert_eq!(outcome(&failed), Err(b"reason".to_vec()));
        assert!(outcome(&[]).is_err());
    }
}
