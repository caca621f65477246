// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.17;

import {ISignatureTransfer} from "permit2/src/interfaces/ISignatureTransfer.sol";

/// @notice The EIP-2612 `permit` of a token.
interface IERC20PermitMinimal {
    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external;
}

/// @title Collects a batch-settlement deposit with the payer's Permit2 witness transfer to the settlement
/// contract; the witness `DepositWitness(bytes32 channelId)` binds the signature to one channel. An optional
/// EIP-2612 permit approves Permit2 first, for a payer without gas.
/// @dev A TEST CONTRACT written by paywire from the x402 specification
/// (specs/schemes/batch-settlement/scheme_batch_settlement_evm.md); it is not the audited deployment.
/// `collectorData` is `abi.encode(uint256 nonce, uint256 deadline, bytes permit2Signature, bytes eip2612Permit)`,
/// the permit being empty or `abi.encode(uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)`.
contract Permit2DepositCollector {
    address public constant SETTLEMENT = 0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003;
    ISignatureTransfer public constant PERMIT2 = ISignatureTransfer(0x000000000022D473030F116dDEE9F6B43aC78BA3);
    bytes32 public constant DEPOSIT_WITNESS_TYPEHASH = keccak256("DepositWitness(bytes32 channelId)");
    string public constant WITNESS_TYPE_STRING =
        "DepositWitness witness)DepositWitness(bytes32 channelId)TokenPermissions(address token,uint256 amount)";

    error OnlySettlement();
    error Permit2612AmountMismatch();

    function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes calldata data) external {
        if (msg.sender != SETTLEMENT) revert OnlySettlement();
        (uint256 nonce, uint256 deadline, bytes memory signature, bytes memory permit) =
            abi.decode(data, (uint256, uint256, bytes, bytes));
        if (permit.length != 0) _permit(token, payer, amount, permit);
        PERMIT2.permitWitnessTransferFrom(
            ISignatureTransfer.PermitTransferFrom({
                permitted: ISignatureTransfer.TokenPermissions({token: token, amount: amount}),
                nonce: nonce,
                deadline: deadline
            }),
            ISignatureTransfer.SignatureTransferDetails({to: SETTLEMENT, requestedAmount: amount}),
            payer,
            keccak256(abi.encode(DEPOSIT_WITNESS_TYPEHASH, channelId)),
            WITNESS_TYPE_STRING,
            signature
        );
    }

    /// @dev A permit already used (or front-run) is not fatal: the transfer fails by itself without allowance.
    function _permit(address token, address payer, uint256 amount, bytes memory permit) private {
        (uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) =
            abi.decode(permit, (uint256, uint256, uint8, bytes32, bytes32));
        if (value != amount) revert Permit2612AmountMismatch();
        try IERC20PermitMinimal(token).permit(payer, address(PERMIT2), value, deadline, v, r, s) {} catch {}
    }
}
