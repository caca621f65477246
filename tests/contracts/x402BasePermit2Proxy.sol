// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.17;

import {ISignatureTransfer} from "permit2/src/interfaces/ISignatureTransfer.sol";

/// @notice The EIP-2612 `permit` of a token (USDC has it).
interface IERC20Permit {
    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external;
}

/// @title What the x402 Permit2 proxies share: a Permit2 witness transfer to the witness's recipient, and an
/// optional EIP-2612 permit that lets a payer without gas approve Permit2 in the same transaction.
/// @dev A TEST CONTRACT written by paywire from the x402 specification (specs/schemes/exact/scheme_exact_evm.md,
/// specs/schemes/upto/scheme_upto_evm.md) and the ABI that the npm package x402/evm ships; it is not the audited deployment.
/// Its reentrancy guard uses storage, not transient storage, so that it compiles with Permit2's solc 0.8.17.
abstract contract x402BasePermit2Proxy {
    /// @notice Permit2 at its canonical address on every chain.
    ISignatureTransfer public constant PERMIT2 = ISignatureTransfer(0x000000000022D473030F116dDEE9F6B43aC78BA3);

    event Settled();
    event SettledWithPermit();
    event EIP2612PermitFailedWithReason(address indexed token, address indexed owner, string reason);
    event EIP2612PermitFailedWithPanic(address indexed token, address indexed owner, uint256 errorCode);
    event EIP2612PermitFailedWithData(address indexed token, address indexed owner, bytes data);

    error InvalidDestination();
    error PaymentTooEarly();
    error InvalidOwner();
    error InvalidAmount();
    error Permit2612AmountMismatch();
    error ReentrancyGuardReentrantCall();

    /// @notice An EIP-2612 permit for Permit2 (field order as the official ABI has it).
    struct EIP2612Permit {
        uint256 value;
        uint256 deadline;
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    uint256 private entered;

    modifier nonReentrant() {
        if (entered == 1) revert ReentrancyGuardReentrantCall();
        entered = 1;
        _;
        entered = 0;
    }

    /// @dev Moves `amount` of the permit's token from `owner` to `to` through Permit2, which checks the deadline,
    /// the amount against the permitted one, the nonce and the owner's signature over the witness.
    function _settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        address to,
        uint256 validAfter,
        bytes32 witnessHash,
        string memory witnessTypeString,
        bytes calldata signature
    ) internal {
        if (amount == 0) revert InvalidAmount();
        if (owner == address(0)) revert InvalidOwner();
        if (to == address(0)) revert InvalidDestination();
        if (block.timestamp < validAfter) revert PaymentTooEarly();
        PERMIT2.permitWitnessTransferFrom(
            permit,
            ISignatureTransfer.SignatureTransferDetails({to: to, requestedAmount: amount}),
            owner,
            witnessHash,
            witnessTypeString,
            signature
        );
    }

    /// @dev Approves Permit2 with the owner's EIP-2612 permit. A permit that fails (already used, say) is only
    /// reported: the transfer that follows fails by itself if Permit2 has no allowance.
    function _executePermit(address token, address owner, EIP2612Permit calldata p, uint256 permitted) internal {
        if (p.value != permitted) revert Permit2612AmountMismatch();
        try IERC20Permit(token).permit(owner, address(PERMIT2), p.value, p.deadline, p.v, p.r, p.s) {}
        catch Error(string memory reason) {
            emit EIP2612PermitFailedWithReason(token, owner, reason);
        } catch Panic(uint256 code) {
            emit EIP2612PermitFailedWithPanic(token, owner, code);
        } catch (bytes memory data) {
            emit EIP2612PermitFailedWithData(token, owner, data);
        }
    }
}
