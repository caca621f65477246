// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.17;

import {ISignatureTransfer} from "permit2/src/interfaces/ISignatureTransfer.sol";
import {x402BasePermit2Proxy} from "./x402BasePermit2Proxy.sol";

/// @title The `upto` scheme's Permit2 proxy: the facilitator the payer named moves any amount up to the
/// permitted maximum to the witness's recipient.
/// @dev A TEST CONTRACT written by paywire from the x402 specification; not the audited deployment.
contract x402UptoPermit2Proxy is x402BasePermit2Proxy {
    string public constant WITNESS_TYPE_STRING =
        "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)";
    bytes32 public constant WITNESS_TYPEHASH = keccak256("Witness(address to,address facilitator,uint256 validAfter)");

    error UnauthorizedFacilitator();
    error AmountExceedsPermitted();

    /// @notice What the payer signs beside the permit: who is paid, who may settle, and from when.
    struct Witness {
        address to;
        address facilitator;
        uint256 validAfter;
    }

    /// @notice Settles `amount` (at most the permitted maximum) of a signed Permit2 witness transfer.
    function settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        _authorize(permit, amount, witness);
        _settle(permit, amount, owner, witness.to, witness.validAfter, _hash(witness), WITNESS_TYPE_STRING, signature);
        emit Settled();
    }

    /// @notice Approves Permit2 with the payer's EIP-2612 permit, then settles `amount` (gas sponsoring).
    function settleWithPermit(
        EIP2612Permit calldata permit2612,
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        _authorize(permit, amount, witness);
        _executePermit(permit.permitted.token, owner, permit2612, permit.permitted.amount);
        _settle(permit, amount, owner, witness.to, witness.validAfter, _hash(witness), WITNESS_TYPE_STRING, signature);
        emit SettledWithPermit();
    }

    function _authorize(ISignatureTransfer.PermitTransferFrom calldata permit, uint256 amount, Witness calldata w)
        private
        view
    {
        if (amount > permit.permitted.amount) revert AmountExceedsPermitted();
        if (msg.sender != w.facilitator) revert UnauthorizedFacilitator();
    }

    function _hash(Witness calldata w) private pure returns (bytes32) {
        return keccak256(abi.encode(WITNESS_TYPEHASH, w.to, w.facilitator, w.validAfter));
    }
}
