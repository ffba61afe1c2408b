//! LUT export/import round trips and the TFApprox `.bin` layout.

use axdnn::gen::{Kind, Spec};
use axdnn::lut::io::{self, Format, ImportMeta};
use axdnn::mult::RowPort;
use axdnn::Lut;

fn meta(l: &Lut) -> ImportMeta {
    ImportMeta {
        name: l.name.clone(),
        signed: l.signed,
        row_port: l.row_port,
        row_bits: l.row_bits,
        col_bits: l.col_bits,
    }
}

fn luts() -> Vec<Lut> {
    let approx = axdnn::lut::exhaustive_lut(
        &Spec { n: 8, m: 8, kind: Kind::Bam { hbl: 1, vbl: 6 } }.netlist(),
        RowPort::B,
        false,
    )
    .unwrap();
    vec![approx, Lut::exact(8, 8, true), Lut::exact(8, 4, false), Lut::exact(3, 5, true)]
}

#[test]
fn round_trips_bin_npy_csv_c() {
    let dir = tempfile::tempdir().unwrap();
    for lut in luts() {
        for (fmt, ext) in
            [(Format::Bin, "bin"), (Format::Npy, "npy"), (Format::NpyU2, "npy"), (Format::Csv, "csv"), (Format::C, "h")]
        {
            let p = dir.path().join(format!("{}_{:?}.{ext}", lut.name, fmt));
            io::export(&lut, fmt, &p).unwrap();
            let back = io::import(&p, &meta(&lut)).unwrap();
            assert_eq!(back, lut, "{} {:?}", lut.name, fmt);
        }
    }
}

#[test]
fn bin_is_tfapprox_layout() {
    let lut = Lut::exact(8, 8, false);
    let b = io::to_bin(&lut).unwrap();
    assert_eq!(b.len(), 131072);
    // entry (row 200, col 3) = 600 at byte 2·(200·256 + 3), little-endian
    let i = 2 * (200 * 256 + 3);
    assert_eq!(u16::from_le_bytes([b[i], b[i + 1]]), 600);
    // signed: the 16-bit pattern of -128·127
    let s = io::to_bin(&Lut::exact(8, 8, true)).unwrap();
    let i = 2 * (0x80 * 256 + 0x7f);
    assert_eq!(i16::from_le_bytes([s[i], s[i + 1]]), -128 * 127);
}

#[test]
fn npy_header_is_aligned_and_parsable() {
    let b = io::to_npy(&Lut::exact(8, 8, false), false).unwrap();
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    assert_eq!((10 + hlen) % 64, 0);
    let h = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(h.starts_with("{'descr': '<i4', 'fortran_order': False, 'shape': (256, 256), }"));
    assert_eq!(b.len(), 10 + hlen + 4 * 65536);
}

#[test]
fn bad_files_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = meta(&Lut::exact(8, 8, false));
    let p = dir.path().join("short.bin");
    std::fs::write(&p, [0u8; 100]).unwrap();
    assert!(matches!(io::import(&p, &m), Err(io::LutIoError::Shape { .. })));
    let p = dir.path().join("bad.csv");
    std::fs::write(&p, "row,col,product\n0,0,0\n0,1,x\n").unwrap();
    match io::import(&p, &m) {
        Err(io::LutIoError::Record { line, .. }) => assert_eq!(line, 3),
        other => panic!("{other:?}"),
    }
    let p = dir.path().join("bad.npy");
    std::fs::write(&p, b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'}").unwrap();
    assert!(io::import(&p, &m).is_err());
    // A signed product out of u16 range is refused for .bin.
    assert!(matches!(
        io::to_bin(&Lut::exact(8, 8, false).clone_with_entry(5, 70000)),
        Err(io::LutIoError::Range { .. })
    ));
}

#[test]
fn c_header_has_every_entry() {
    let h = io::to_c_header(&Lut::exact(4, 4, true));
    assert!(h.contains("static const int16_t exact4x4s_lut[16][16]"));
    assert!(h.contains("{0,-8,-16,-24,-32,-40,-48,-56,64,56"), "row 8 (-8) times col 0..: {h}");
}
