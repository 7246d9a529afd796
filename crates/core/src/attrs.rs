//! The `key=value,key="a,b"` attribute lists of buildx flags (`--output`, `--cache-to`,
//! `--cache-from`), read by one reader so every flag quotes the same way.

/// Splits `k=v,k="v,w"` as buildx's CSV reader does: commas separate fields unless
/// quoted; keys are case-insensitive.
pub fn split_attrs(raw: &str) -> Result<Vec<(String, String)>, String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in raw.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    fields.push(current);
    fields
        .into_iter()
        .filter(|f| !f.is_empty())
        .map(|field| match field.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_ascii_lowercase(), v.to_owned())),
            None => Err(format!("{field:?} is not KEY=VALUE")),
        })
        .collect()
}
