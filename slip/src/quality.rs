//! How well a received frame was heard, as far as the radio link says.

/// What a radio link reported with a received frame. The slip-radio protocol reports
/// neither value (both `None`); ZEP carries the LQI, and the RSSI as well when the sender
/// used LQI mode (TI CC24xx metadata in place of the FCS). Never estimated here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkQuality {
    /// Link quality indicator, 0 (worst) ..= 255 (best), as the radio computed it.
    pub lqi: Option<u8>,
    /// Received signal strength in dBm.
    pub rssi_dbm: Option<i8>,
}

impl LinkQuality {
    /// Whether the radio reported anything at all.
    pub fn is_reported(&self) -> bool {
        self.lqi.is_some() || self.rssi_dbm.is_some()
    }
}
