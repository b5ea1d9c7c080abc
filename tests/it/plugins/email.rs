//! Built-in plugin `email` through the real binary against its real peer (being written).
