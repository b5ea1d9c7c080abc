//! Built-in plugin `presets` through the real binary against its real peer (being written).
