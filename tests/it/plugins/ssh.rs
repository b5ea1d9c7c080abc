//! Built-in plugin `ssh` through the real binary against its real peer (being written).
