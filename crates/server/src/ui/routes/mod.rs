//! Page handlers: extract (the role check is in the extractor), check the
//! form token, call one service function, render or redirect.

mod audit_text;
pub mod confirm;
pub mod keys;
pub mod org;
pub mod passkeys;
pub mod people;
pub mod personal;
pub mod security;
pub mod sign_in;
pub mod sso;
pub mod sso_settings;
pub mod two_factor;
pub mod usage;

use crate::middleware::access::SurfaceState;
use crate::ui::Pages;
use crate::ui::extract::{AppPages, CurrentUser, FormBody, PageError, stale_form};

/// The app's handlers refuse as pages, also where no session is needed
/// (`ClientInfo` on the sign-in form, say).
impl SurfaceState for Pages {
    type Surface = AppPages;
}

/// Consumes the form's token, bound to the signed-in session.
pub fn check_form(app: &Pages, me: &CurrentUser, form: &FormBody) -> Result<(), PageError> {
    app.forms
        .consume(&me.session_hash.to_hex(), form.get("csrf"))
        .map_err(|_| stale_form())
}
