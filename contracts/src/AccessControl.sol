// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Minimal role-based access control shared by the DCMX contracts.
/// @notice Every role is administered by DEFAULT_ADMIN_ROLE. Grants and revocations always emit,
/// so an indexer can rebuild the full role table from RoleGranted/RoleRevoked alone; no-op grants
/// (role already held) and no-op revocations emit nothing because nothing changed.
abstract contract AccessControl {
    bytes32 public constant DEFAULT_ADMIN_ROLE = 0x00;

    mapping(bytes32 role => mapping(address account => bool)) private _roles;

    event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);

    /// @notice `account` lacks `role`, which the called function requires.
    error MissingRole(bytes32 role, address account);
    /// @notice An address argument was the zero address where a real account is needed.
    error ZeroAddress();

    constructor(address admin) {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    modifier onlyRole(bytes32 role) {
        _checkRole(role, msg.sender);
        _;
    }

    function hasRole(bytes32 role, address account) public view returns (bool) {
        return _roles[role][account];
    }

    function grantRole(bytes32 role, address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (account == address(0)) revert ZeroAddress();
        _grantRole(role, account);
    }

    function revokeRole(bytes32 role, address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _revokeRole(role, account);
    }

    /// @notice Lets a compromised or retiring account drop its own role without the admin.
    function renounceRole(bytes32 role) external {
        _revokeRole(role, msg.sender);
    }

    function _checkRole(bytes32 role, address account) internal view {
        if (!_roles[role][account]) revert MissingRole(role, account);
    }

    function _grantRole(bytes32 role, address account) internal {
        if (!_roles[role][account]) {
            _roles[role][account] = true;
            emit RoleGranted(role, account, msg.sender);
        }
    }

    function _revokeRole(bytes32 role, address account) internal {
        if (_roles[role][account]) {
            _roles[role][account] = false;
            emit RoleRevoked(role, account, msg.sender);
        }
    }
}
