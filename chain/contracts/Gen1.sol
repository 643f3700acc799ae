// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC4906} from "@openzeppelin/contracts/interfaces/IERC4906.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";

/// @title Gen1: one token per rendered artwork, its tokenURI the artwork's pinned metadata.
/// @notice Keeps the original Gen1 interface (mint at an exact price, token ids from 1, the
/// Gen1Minted event, owner-set price, ERC-4906 metadata updates) and fixes its faults: the
/// ERC-4906 interface id is reported, batch updates emit BatchMetadataUpdate, and the supply
/// cap is enforced.
contract Gen1 is ERC721, IERC4906, Ownable {
    /// Emitted on every mint, beside ERC-721's Transfer.
    event Gen1Minted(address indexed to, uint256 indexed tokenId, string imageUrl);
    /// Emitted when the owner changes the price.
    event MintPriceChanged(uint256 price);

    /// The value sent is not the mint price (it may have changed since the transaction was built).
    error WrongPrice(uint256 sent, uint256 price);
    /// Every token of the capped supply is minted.
    error SoldOut(uint256 maxSupply);
    /// A token needs its metadata URI.
    error EmptyMetadataURI();
    /// A batch update names no token, or a token that does not exist.
    error BadBatch(uint256 fromTokenId, uint256 count);

    /// 0 for no cap; otherwise the most tokens that can ever exist. Set once, at deployment
    /// (stored, not immutable: the runtime code stays the same for every deployment, so a
    /// client can check it is talking to this contract).
    uint256 public maxSupply;
    uint256 public mintPrice;
    uint256 private _minted;
    mapping(uint256 tokenId => string) private _tokenURIs;

    constructor(address initialOwner, uint256 initialPrice, uint256 cap)
        ERC721("Gen1", "G1")
        Ownable(initialOwner)
    {
        mintPrice = initialPrice;
        maxSupply = cap;
        emit MintPriceChanged(initialPrice);
    }

    /// Mints the next token to the caller, for exactly `mintPrice`.
    function mint(string calldata imageUrl, string calldata metadataURI)
        external
        payable
        returns (uint256 tokenId)
    {
        if (msg.value != mintPrice) revert WrongPrice(msg.value, mintPrice);
        if (maxSupply != 0 && _minted >= maxSupply) revert SoldOut(maxSupply);
        if (bytes(metadataURI).length == 0) revert EmptyMetadataURI();
        tokenId = ++_minted;
        _tokenURIs[tokenId] = metadataURI;
        _safeMint(msg.sender, tokenId);
        emit Gen1Minted(msg.sender, tokenId, imageUrl);
    }

    /// Tokens minted so far (none is ever burned).
    function totalSupply() external view returns (uint256) {
        return _minted;
    }

    function setMintPrice(uint256 price) external onlyOwner {
        mintPrice = price;
        emit MintPriceChanged(price);
    }

    /// Points one token at new metadata; emits ERC-4906 MetadataUpdate.
    function updateMetadata(uint256 tokenId, string calldata metadataURI) external onlyOwner {
        _requireOwned(tokenId);
        if (bytes(metadataURI).length == 0) revert EmptyMetadataURI();
        _tokenURIs[tokenId] = metadataURI;
        emit MetadataUpdate(tokenId);
    }

    /// Points tokens fromTokenId, fromTokenId + 1, … at new metadata in one transaction;
    /// emits one ERC-4906 BatchMetadataUpdate for the range.
    function batchUpdateMetadata(uint256 fromTokenId, string[] calldata metadataURIs)
        external
        onlyOwner
    {
        uint256 count = metadataURIs.length;
        // (written so that no sum can overflow: a huge fromTokenId is BadBatch, not a panic)
        if (count == 0 || fromTokenId == 0 || fromTokenId > _minted || count > _minted - fromTokenId + 1) {
            revert BadBatch(fromTokenId, count);
        }
        for (uint256 i = 0; i < count; ++i) {
            if (bytes(metadataURIs[i]).length == 0) revert EmptyMetadataURI();
            _tokenURIs[fromTokenId + i] = metadataURIs[i];
        }
        emit BatchMetadataUpdate(fromTokenId, fromTokenId + count - 1);
    }

    /// Sends the contract's balance (the mint proceeds) to `to`.
    function withdraw(address payable to) external onlyOwner {
        Address.sendValue(to, address(this).balance);
    }

    /// The metadata URI the token was minted or last updated with, as stored.
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        _requireOwned(tokenId);
        return _tokenURIs[tokenId];
    }

    /// ERC-721, ERC-721 Metadata, ERC-165 and ERC-4906 (0x49064906).
    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC721, IERC165)
        returns (bool)
    {
        return interfaceId == bytes4(0x49064906) || super.supportsInterface(interfaceId);
    }
}
