//! Built-in plugin `cloud` through the real binary against its real peer (being written).
