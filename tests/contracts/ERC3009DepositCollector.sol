// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.17;

/// @notice ERC-3009's `receiveWithAuthorization` (bytes-signature form, as USDC v2.2 has it).
interface IERC3009Receive {
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external;
    function transfer(address to, uint256 amount) external returns (bool);
}

/// @title Collects a batch-settlement deposit with the payer's ERC-3009 `ReceiveWithAuthorization` to this
/// contract, whose nonce is `keccak256(abi.encode(channelId, salt))`, so an authorization funds one channel only.
/// @dev A TEST CONTRACT written by paywire from the x402 specification
/// (specs/schemes/batch-settlement/scheme_batch_settlement_evm.md); it is not the audited deployment.
/// `collectorData` is `abi.encode(uint256 validAfter, uint256 validBefore, uint256 salt, bytes signature)`.
contract ERC3009DepositCollector {
    /// @notice The settlement contract at its canonical address: the only caller, and where the funds go.
    address public constant SETTLEMENT = 0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003;

    error OnlySettlement();
    error TransferFailed();

    function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes calldata data) external {
        if (msg.sender != SETTLEMENT) revert OnlySettlement();
        (uint256 validAfter, uint256 validBefore, uint256 salt, bytes memory signature) =
            abi.decode(data, (uint256, uint256, uint256, bytes));
        bytes32 nonce = keccak256(abi.encode(channelId, salt));
        IERC3009Receive(token).receiveWithAuthorization(
            payer, address(this), amount, validAfter, validBefore, nonce, signature
        );
        if (!IERC3009Receive(token).transfer(SETTLEMENT, amount)) revert TransferFailed();
    }
}
