//! NumPy `.npy` files (format versions 1–3, C order): the header written and read, the array's
//! bytes handed to the caller, who knows which dtypes it accepts.

/// A parsed `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Npy {
    /// The dtype string (`<f4`, `|u1`, `<i4`, …).
    pub descr: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// The data bytes after the header (checked to be exactly the shape's elements).
    pub data: Vec<u8>,
}

/// Size in bytes of one element of `descr`, for the dtypes this project reads.
pub fn item_size(descr: &str) -> Option<usize> {
    match descr {
        "|u1" | "|i1" | "<u1" | "<i1" | "|b1" => Some(1),
        "<u2" | "<i2" | "<f2" => Some(2),
        "<u4" | "<i4" | "<f4" => Some(4),
        "<u8" | "<i8" | "<f8" => Some(8),
        _ => None,
    }
}

/// NumPy v1.0 preamble: magic, header length, a Python-dict header padded to a multiple of 64 bytes.
pub fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let mut header = dict.into_bytes();
    header.resize(total - 10 - 1, b' ');
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header);
    out
}

/// A little-endian float32 array as a NumPy file (adversarial examples, logits).
pub fn f32_file(shape: &[usize], data: &[f32]) -> Vec<u8> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "shape {shape:?} for {} values", data.len());
    let mut out = header("<f4", shape);
    out.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    out
}

/// Parse `bytes` of a `.npy` file; the error says what is wrong (the caller adds the path).
/// A dtype of unknown size is returned with its bytes unchecked against the shape only when
/// `item_size` does not know it (the caller then refuses it by name).
pub fn parse(bytes: &[u8]) -> Result<Npy, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a NumPy file (bad magic)".into());
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(format!("unsupported NumPy format version {v}")),
    };
    let header = bytes
        .get(start..start.saturating_add(hlen))
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated or non-UTF-8 header")?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(&format!("'{key}'"))?;
        let rest = header[i + key.len() + 2..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr")
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.split('\'').next())
        .ok_or("header has no 'descr'")?;
    if field("fortran_order").is_some_and(|r| r.starts_with("True")) {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape_txt = field("shape")
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.split(')').next())
        .ok_or("header has no 'shape'")?;
    let shape: Vec<usize> = shape_txt
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad shape entry {s:?}")))
        .collect::<Result<_, _>>()?;
    let data = &bytes[start + hlen..];
    if let Some(size) = item_size(descr) {
        let n = shape.iter().try_fold(size, |a, &d| a.checked_mul(d)).ok_or("shape too large")?;
        if data.len() != n {
            return Err(format!("{} data bytes, {n} expected for shape ({shape_txt}) of {descr}", data.len()));
        }
    }
    Ok(Npy { descr: descr.to_string(), shape, data: data.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_errors() {
        let f = f32_file(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.5]);
        let n = parse(&f).unwrap();
        assert_eq!((n.descr.as_str(), n.shape.as_slice(), n.data.len()), ("<f4", &[2, 3][..], 24));
        assert!(parse(&f[..f.len() - 1]).unwrap_err().contains("23 data bytes"));
        assert!(parse(b"hello world").unwrap_err().contains("bad magic"));
        assert!(parse(&f[..20]).unwrap_err().contains("truncated"));
        let mut big = f.clone();
        big[8] = 0xff;
        big[9] = 0xff;
        assert!(parse(&big).is_err());
    }
}
