//! Any bytes: parsing a MAC frame (with or without FCS) never panics, and a parsed header
//! re-emits to the same header bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lowpan::ieee802154::{self, Frame};

fuzz_target!(|data: &[u8]| {
    let _ = ieee802154::check_fcs(data);
    if let Ok(view) = Frame::new_checked(data) {
        let _ = (
            view.src_addr(),
            view.dst_addr(),
            view.src_pan_id(),
            view.dst_pan_id(),
            view.payload(),
        );
    }
    if let Ok((repr, payload)) = ieee802154::parse_frame(data) {
        let rebuilt = ieee802154::build_data_frame(&repr, payload);
        let (again, p2) = ieee802154::parse_frame(&rebuilt).expect("re-emitted frame parses");
        assert_eq!(again, repr);
        assert_eq!(p2, payload);
    }
});
