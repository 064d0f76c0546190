//! Where a log lives: a SQLite file (the embedded default) or a PostgreSQL database. The
//! readers (`log export`, `train --from-log`, `eval --from-log`, `spend`) take either; a
//! command-line value that starts with `postgres://` or `postgresql://` names a database,
//! anything else a file.

use std::fmt;
use std::path::{Path, PathBuf};

/// A log's place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user:password@host:port/db?…`).
    Postgres(PgUrl),
}

impl Location {
    /// A database for a `postgres://` or `postgresql://` URL, else a file path.
    pub fn parse(s: &str) -> Location {
        if PgUrl::is_url(s) {
            Location::Postgres(PgUrl(s.to_owned()))
        } else {
            Location::Sqlite(PathBuf::from(s))
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(u) => u.fmt(f),
        }
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Location {
        Location::Sqlite(p.to_owned())
    }
}

impl From<&PathBuf> for Location {
    fn from(p: &PathBuf) -> Location {
        Location::Sqlite(p.clone())
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Location {
        Location::Sqlite(p)
    }
}

impl From<&Location> for Location {
    fn from(l: &Location) -> Location {
        l.clone()
    }
}

/// A PostgreSQL URL. It may carry a password, so it prints with the password replaced by
/// `***` (errors and logs name the database, never the secret); [`PgUrl::secret`] gives the
/// whole URL to the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl(String);

impl PgUrl {
    /// Whether `s` is a PostgreSQL URL.
    pub fn is_url(s: &str) -> bool {
        s.starts_with("postgres://") || s.starts_with("postgresql://")
    }

    /// Wraps a URL (checked by [`PgUrl::is_url`] where it came from the user).
    pub fn new(url: impl Into<String>) -> PgUrl {
        PgUrl(url.into())
    }

    /// The URL with its password, for the driver only.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return f.write_str("postgres://***");
        };
        let (main, query) = match rest.split_once('?') {
            Some((main, query)) => (main, Some(query)),
            None => (rest, None),
        };
        // `user:password@host/db`: the userinfo ends at the last `@` before the query, not at
        // the first `/`, since the driver accepts a password with an unencoded `/` (generated
        // passwords in base64 have them).
        match main.rfind('@') {
            Some(at) => {
                let userinfo = &main[..at];
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                let masked = if userinfo.contains(':') { ":***" } else { "" };
                write!(f, "{scheme}://{user}{masked}{}", &main[at..])?;
            }
            None => write!(f, "{scheme}://{main}")?,
        }
        // The driver also takes the password as a parameter (`?password=…`).
        if let Some(query) = query {
            f.write_str("?")?;
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    f.write_str("&")?;
                }
                match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => write!(f, "{k}=***")?,
                    _ => f.write_str(pair)?,
                }
            }
        }
        Ok(())
    }
}

impl<'de> serde::Deserialize<'de> for PgUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PgUrl, D::Error> {
        let s = String::deserialize(d)?;
        if PgUrl::is_url(&s) {
            Ok(PgUrl(s))
        } else {
            Err(serde::de::Error::custom(
                "expected a postgres://user:password@host:port/database URL",
            ))
        }
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The driver reads a password with an unencoded `/`, and one given as a parameter.
    #[test]
    fn passwords_with_slashes_or_in_the_query_are_masked_too() {
        for (url, shown) in [
            (
                "postgres://app:Xy/9s3cret@127.0.0.1:1/db",
                "postgres://app:***@127.0.0.1:1/db",
            ),
            (
                "postgres://app@127.0.0.1:1/db?sslmode=disable&password=s3cretPW",
                "postgres://app@127.0.0.1:1/db?sslmode=disable&password=***",
            ),
            ("postgres://db.internal/sw", "postgres://db.internal/sw"),
        ] {
            assert_eq!(PgUrl::new(url).to_string(), shown);
        }
    }

    #[test]
    fn urls_are_databases_and_print_without_their_password() {
        let l =
            Location::parse("postgresql://app:s3cr@t@db.internal:5432/switchyard?sslmode=disable");
        assert_eq!(
            l.to_string(),
            "postgresql://app:***@db.internal:5432/switchyard?sslmode=disable"
        );
        assert_eq!(
            Location::parse("postgres://app@h/db").to_string(),
            "postgres://app@h/db"
        );
        assert_eq!(
            Location::parse(".switchyard/outcomes.sqlite"),
            Location::Sqlite(PathBuf::from(".switchyard/outcomes.sqlite"))
        );
    }
}
