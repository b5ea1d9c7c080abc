//! Built-in plugin `nextcloud` through the real binary against its real peer (being written).
