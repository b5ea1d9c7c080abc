//! Built-in plugin `docker` through the real binary against its real peer (being written).
