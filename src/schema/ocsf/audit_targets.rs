//! The parts of a directory audit that the audit mapping spreads over several OCSF attributes:
//! `targetResources`, `initiatedBy` and `additionalDetails`. Each part of them records whether it
//! was written; `unmapped` then keeps exactly the parts that were not, so that an event carries
//! every Graph value once (a SIEM licence is paid by the byte) and loses none.

use std::borrow::Cow;
use std::cell::Cell;

use serde_json::value::RawValue;

use crate::graph::record::Record;
use crate::schema::json::{ArrayWriter, ObjectWriter};
use crate::schema::values::{self, Fields, decode_json_string};

/// A property of a target that an OCSF attribute can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Id,
    DisplayName,
    Kind,
    UserPrincipalName,
    GroupType,
}

impl Part {
    const ALL: [Part; 5] = [
        Part::Id,
        Part::DisplayName,
        Part::Kind,
        Part::UserPrincipalName,
        Part::GroupType,
    ];

    fn name(self) -> &'static str {
        match self {
            Part::Id => "id",
            Part::DisplayName => "displayName",
            Part::Kind => "type",
            Part::UserPrincipalName => "userPrincipalName",
            Part::GroupType => "groupType",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// One entry of `targetResources`.
pub struct Target<'a> {
    pub id: Option<Cow<'a, str>>,
    pub display_name: Option<Cow<'a, str>>,
    pub kind: Option<Cow<'a, str>>,
    pub user_principal_name: Option<Cow<'a, str>>,
    pub group_type: Option<Cow<'a, str>>,
    pub modified: Vec<Modified<'a>>,
    /// Every modified property was read whole (a name, and values that are strings or null),
    /// so their decoded list holds all of them.
    modified_whole: bool,
    /// The parts written somewhere (`Part::bit`).
    written: Cell<u8>,
    /// The modified properties went to `entity.data` (not to `unmapped.modified_properties`).
    modified_in_entity: Cell<bool>,
    object: Record<'a>,
}

pub struct Modified<'a> {
    pub name: Cow<'a, str>,
    pub old_value: Option<Cow<'a, str>>,
    pub new_value: Option<Cow<'a, str>>,
}

impl<'a> Target<'a> {
    fn of(object: Record<'a>) -> Target<'a> {
        let items = object.objects("modifiedProperties");
        let modified: Vec<Modified<'a>> = items
            .iter()
            .filter_map(|property| {
                Some(Modified {
                    name: property.non_empty("displayName")?,
                    old_value: property.text("oldValue"),
                    new_value: property.text("newValue"),
                })
            })
            .collect();
        let modified_whole = match object.get("modifiedProperties") {
            None | Some("null") => true,
            Some(raw) => {
                items.len() == modified.len()
                    && array_items(raw).is_some_and(|all| all.len() == items.len())
                    && items.iter().all(read_whole)
            }
        };
        Target {
            id: object.non_empty("id"),
            display_name: object.non_empty("displayName"),
            kind: object.non_empty("type"),
            user_principal_name: object.non_empty("userPrincipalName"),
            group_type: object.non_empty("groupType"),
            modified,
            modified_whole,
            written: Cell::new(0),
            modified_in_entity: Cell::new(false),
            object,
        }
    }

    pub fn is(&self, kind: &str) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|value| value.eq_ignore_ascii_case(kind))
    }

    fn value(&self, part: Part) -> Option<&str> {
        match part {
            Part::Id => self.id.as_deref(),
            Part::DisplayName => self.display_name.as_deref(),
            Part::Kind => self.kind.as_deref(),
            Part::UserPrincipalName => self.user_principal_name.as_deref(),
            Part::GroupType => self.group_type.as_deref(),
        }
    }

    /// The value of `part` for an attribute that writes it: from now on it has a home.
    pub fn take(&self, part: Part) -> Option<&str> {
        let value = self.value(part);
        if value.is_some() {
            self.mark(part);
        }
        value
    }

    /// `part` has a home without being written as it is (the type "Group" of the group target:
    /// `group` says it).
    pub fn mark(&self, part: Part) {
        self.written.set(self.written.get() | part.bit());
    }

    /// The modified properties, for `entity.data`: from now on they have a home there.
    pub fn take_modified(&self) -> &[Modified<'a>] {
        self.modified_in_entity.set(true);
        &self.modified
    }

    pub fn modified_value(&self, name: &str) -> Option<String> {
        self.modified
            .iter()
            .find(|property| property.name == name)
            .and_then(|property| {
                property
                    .new_value
                    .as_deref()
                    .or(property.old_value.as_deref())
            })
            .map(|value| value.trim_matches('"').to_owned())
            .filter(|value| !value.is_empty())
    }

    pub fn label(&self) -> Option<&str> {
        self.user_principal_name
            .as_deref()
            .or(self.display_name.as_deref())
            .or(self.id.as_deref())
    }

    /// Whether the property `name` (its raw value `value`) has a home: written, nothing to keep
    /// (null, or an empty string for a part Graph leaves empty when unknown), or, for the
    /// modified properties, in the decoded list.
    fn has_home(&self, name: &str, value: &str) -> bool {
        if value == "null" {
            return true;
        }
        if name == "modifiedProperties" {
            return self.modified_whole;
        }
        let Some(part) = Part::ALL.into_iter().find(|part| part.name() == name) else {
            return false;
        };
        self.written.get() & part.bit() != 0
            || values::string(value).is_some_and(|text| values::is_blank(&text))
    }

    /// What of this target found no home, as an object (`{}` when everything did).
    fn remainder(&self) -> Vec<u8> {
        let mut out = Vec::new();
        ObjectWriter::write(&mut out, |rest| {
            for (_, name, verbatim, value) in self.object.distinct_keyed() {
                if !self.has_home(name, value) {
                    rest.raw_keyed_property(name, verbatim, value);
                }
            }
        });
        out
    }
}

/// A modified property with a name and values that are strings or null, and nothing else.
fn read_whole(property: &Record) -> bool {
    property.non_empty("displayName").is_some()
        && property.names().all(|name| match name {
            "displayName" => true,
            "oldValue" | "newValue" => property
                .get(name)
                .is_some_and(|value| value == "null" || value.starts_with('"')),
            _ => false,
        })
}

/// `null`, or an object without properties (`{}`, `{ }`).
fn holds_nothing(json: &[u8]) -> bool {
    json == b"null"
        || json
            .strip_prefix(b"{")
            .and_then(|inside| inside.strip_suffix(b"}"))
            .is_some_and(|inside| inside.trim_ascii().is_empty())
}

/// The items of a JSON array, raw; `None` when `raw` is not an array.
fn array_items(raw: &str) -> Option<Vec<&RawValue>> {
    serde_json::from_str(raw).ok()
}

/// The targets of an audit record: the items of `targetResources` that are objects.
pub fn targets<'a>(record: &Record<'a>) -> Vec<Target<'a>> {
    record
        .objects("targetResources")
        .into_iter()
        .map(Target::of)
        .collect()
}

/// `targetResources` in `unmapped`: what of each target found no home, at the target's place in
/// Graph's list (`{}` for a target wholly mapped); nothing when every target found a home.
pub fn write_targets_remainder(unmapped: &mut ObjectWriter, record: &Record, targets: &[Target]) {
    let Some(raw) = record.get("targetResources").filter(|raw| *raw != "null") else {
        return;
    };
    let Some(items) = array_items(raw) else {
        // not a list: nothing of it was read
        unmapped.raw_property("targetResources", raw);
        return;
    };
    let mut remainders = Vec::with_capacity(items.len());
    let mut objects = targets.iter();
    for item in &items {
        // the items `targets` read are the objects with properties, in order
        let remainder = match values::object(item.get()) {
            Some(_) => match objects.next() {
                Some(target) => target.remainder(),
                None => item.get().as_bytes().to_vec(),
            },
            None => item.get().as_bytes().to_vec(),
        };
        remainders.push(remainder);
    }
    if objects.next().is_some() {
        // the two readings disagree: keep the list as Graph sent it
        unmapped.raw_property("targetResources", raw);
        return;
    }
    if remainders.iter().all(|remainder| holds_nothing(remainder)) {
        return;
    }
    unmapped.array("targetResources", |list| {
        for remainder in &remainders {
            // written by the JSON writer or copied from the record: UTF-8 either way
            list.raw_text(&String::from_utf8_lossy(remainder));
        }
    });
}

/// `modified_properties` in `unmapped`: the modified properties of every target whose list did
/// not go to `entity.data`, decoded from the JSON strings Graph wraps them in, with the target's
/// id and type.
pub fn write_decoded_modified(unmapped: &mut ObjectWriter, targets: &[Target]) {
    unmapped.array("modified_properties", |list| {
        for target in targets
            .iter()
            .filter(|target| !target.modified_in_entity.get())
        {
            write_modified(list, target, true);
        }
    });
}

/// The decoded modified properties of `target`; with the target's id and type when `name_target`.
pub fn write_modified(list: &mut ArrayWriter, target: &Target, name_target: bool) {
    for property in &target.modified {
        list.object(|entry| {
            if name_target {
                entry.text("target_uid", target.id.as_deref());
                entry.text("target_type", target.kind.as_deref());
            }
            entry.string("name", &property.name);
            if let Some(old) = property.old_value.as_deref().and_then(decode_json_string) {
                entry.raw("old_value", &old);
            }
            if let Some(new) = property.new_value.as_deref().and_then(decode_json_string) {
                entry.raw("new_value", &new);
            }
        });
    }
}

/// `initiatedBy` in `unmapped`: of its user and app, the properties `actor` and `src_endpoint`
/// did not take; any other property whole.
pub fn write_initiator_remainder(unmapped: &mut ObjectWriter, record: &Record) {
    let Some(raw) = record.get("initiatedBy").filter(|raw| *raw != "null") else {
        return;
    };
    let Some(initiator) = values::object(raw) else {
        if !holds_nothing(raw.as_bytes()) {
            unmapped.raw_property("initiatedBy", raw);
        }
        return;
    };
    unmapped.object("initiatedBy", |rest| {
        for (_, name, verbatim, value) in initiator.distinct_keyed() {
            let object = values::object(value);
            match (name, object) {
                ("user", Some(user)) => {
                    // the home tenant's name is written with its id only
                    let has_home_tenant = user.non_empty("homeTenantId").is_some();
                    write_object_remainder(rest, name, &user, |key| match key {
                        "id" | "userPrincipalName" | "displayName" | "homeTenantId"
                        | "ipAddress" => true,
                        "homeTenantName" => has_home_tenant,
                        _ => false,
                    });
                }
                ("app", Some(app)) => {
                    // the service principal's id stands in for a missing app id
                    let has_app_id = app.non_empty("appId").is_some();
                    write_object_remainder(rest, name, &app, |key| match key {
                        "appId" | "displayName" => true,
                        "servicePrincipalId" => !has_app_id,
                        _ => false,
                    });
                }
                _ if holds_nothing(value.as_bytes()) => {}
                _ => rest.raw_keyed_property(name, verbatim, value),
            }
        }
    });
}

/// The properties of `object` whose key `read` does not take as a string (the mapping reads
/// strings only), null values and empty strings left out.
fn write_object_remainder(
    rest: &mut ObjectWriter,
    key: &str,
    object: &Record,
    read: impl Fn(&str) -> bool,
) {
    rest.object(key, |remainder| {
        for (_, name, verbatim, value) in object.distinct_keyed() {
            let is_text = values::string(value);
            let nothing_to_keep =
                value == "null" || is_text.as_deref().is_some_and(values::is_blank);
            if nothing_to_keep || (read(name) && is_text.is_some()) {
                continue;
            }
            remainder.raw_keyed_property(name, verbatim, value);
        }
    });
}

/// `additionalDetails` in `unmapped`: every entry but the `User-Agent` one whose value
/// `http_request.user_agent` holds.
pub fn write_details_remainder(
    unmapped: &mut ObjectWriter,
    record: &Record,
    user_agent: Option<&str>,
) {
    let Some(raw) = record.get("additionalDetails").filter(|raw| *raw != "null") else {
        return;
    };
    let Some(items) = array_items(raw) else {
        unmapped.raw_property("additionalDetails", raw);
        return;
    };
    let written = |item: &RawValue| {
        values::object(item.get()).is_some_and(|detail| {
            detail.text("key").as_deref() == Some("User-Agent")
                && user_agent.is_some()
                && detail.non_empty("value").as_deref() == user_agent
                && detail.names().all(|name| name == "key" || name == "value")
        })
    };
    unmapped.array("additionalDetails", |list| {
        for item in items.iter().filter(|item| !written(item)) {
            list.raw_text(item.get());
        }
    });
}
