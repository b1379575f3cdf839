"""Readers and writers of on-disk event formats (numpy only, never download)."""

from spikelite.data.formats.nmnist import (
    decode_nmnist,
    encode_nmnist,
    list_nmnist_tree,
    read_nmnist_bin,
    read_nmnist_tree,
    write_nmnist_bin,
    write_nmnist_tree,
)

__all__ = [
    "decode_nmnist",
    "encode_nmnist",
    "list_nmnist_tree",
    "read_nmnist_bin",
    "read_nmnist_tree",
    "write_nmnist_bin",
    "write_nmnist_tree",
]
