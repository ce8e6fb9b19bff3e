// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "./AccessControl.sol";

/// @title DCMX platform token (TRC-20 / ERC-20), capped at one billion tokens.
/// @notice Mints and burns are Transfer events from/to the zero address, and transferFrom emits
/// Approval with the remaining allowance, so balances, supply and allowances can all be rebuilt
/// from events.
contract DCMXToken is AccessControl {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    string public constant name = "DCMX Token";
    string public constant symbol = "DCMX";
    uint8 public constant decimals = 18;
    uint256 public constant cap = 1_000_000_000 * 10 ** 18;

    uint256 public totalSupply;
    mapping(address account => uint256) public balanceOf;
    mapping(address owner => mapping(address spender => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @notice Minting `requested` would take the supply above the cap; only `remaining` is left.
    error CapExceeded(uint256 requested, uint256 remaining);
    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    error InsufficientAllowance(address owner, address spender, uint256 allowance, uint256 needed);

    constructor() AccessControl(msg.sender) {}

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        _approve(msg.sender, spender, value);
        return true;
    }

    /// @dev An allowance of type(uint256).max is treated as unlimited and never decreases.
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 current = allowance[from][msg.sender];
        if (current != type(uint256).max) {
            if (current < value) revert InsufficientAllowance(from, msg.sender, current, value);
            _approve(from, msg.sender, current - value);
        }
        _transfer(from, to, value);
        return true;
    }

    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        if (to == address(0)) revert ZeroAddress();
        uint256 remaining = cap - totalSupply;
        if (amount > remaining) revert CapExceeded(amount, remaining);
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function burn(uint256 amount) external {
        uint256 balance = balanceOf[msg.sender];
        if (balance < amount) revert InsufficientBalance(msg.sender, balance, amount);
        unchecked {
            balanceOf[msg.sender] = balance - amount;
            totalSupply -= amount;
        }
        emit Transfer(msg.sender, address(0), amount);
    }

    function _transfer(address from, address to, uint256 value) private {
        if (to == address(0)) revert ZeroAddress();
        uint256 balance = balanceOf[from];
        if (balance < value) revert InsufficientBalance(from, balance, value);
        unchecked {
            balanceOf[from] = balance - value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }

    function _approve(address owner, address spender, uint256 value) private {
        if (spender == address(0)) revert ZeroAddress();
        allowance[owner][spender] = value;
        emit Approval(owner, spender, value);
    }
}
