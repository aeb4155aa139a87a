//! A Kafka broker that answers only the admin side of the protocol: ApiVersions, Metadata,
//! CreateTopics and DescribeConfigs. librdkafka's mock cluster implements neither CreateTopics nor
//! DescribeConfigs, and the checkpoint store needs both; this fake speaks just enough of the wire
//! protocol (non-flexible versions, except ApiVersions v3) for librdkafka's admin client, and
//! records what it was asked.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const API_METADATA: i16 = 3;
const API_API_VERSIONS: i16 = 18;
const API_CREATE_TOPICS: i16 = 19;
const API_DESCRIBE_CONFIGS: i16 = 32;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const UNSUPPORTED_VERSION: i16 = 35;

/// A topic the fake knows, with its configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeTopic {
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

/// A CreateTopics request as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateRequest {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

#[derive(Default)]
pub struct State {
    pub topics: BTreeMap<String, FakeTopic>,
    pub created: Vec<CreateRequest>,
    /// Answer DescribeConfigs with this error code.
    pub describe_error: Option<i16>,
}

pub struct AdminBroker {
    pub address: SocketAddr,
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AdminBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AdminBroker {
    pub async fn start() -> AdminBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((connection, _)) = listener.accept().await {
                tokio::spawn(serve(connection, address, shared.clone()));
            }
        });
        AdminBroker {
            address,
            state,
            task,
        }
    }

    pub fn bootstrap(&self) -> String {
        self.address.to_string()
    }

    pub fn add_topic(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        self.state.lock().topics.insert(
            name.to_owned(),
            FakeTopic {
                partitions,
                configs: configs
                    .iter()
                    .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                    .collect(),
            },
        );
    }
}

async fn serve(mut connection: TcpStream, address: SocketAddr, state: Arc<Mutex<State>>) {
    loop {
        let mut size = [0u8; 4];
        if connection.read_exact(&mut size).await.is_err() {
            return;
        }
        let mut request = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
        if connection.read_exact(&mut request).await.is_err() {
            return;
        }
        let Some(response) = answer(&request, address, &state) else {
            return;
        };
        let mut framed = (response.len() as i32).to_be_bytes().to_vec();
        framed.extend_from_slice(&response);
        if connection.write_all(&framed).await.is_err() {
            return;
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, count: usize) -> Option<&[u8]> {
        if self.bytes.len() < count {
            return None;
        }
        let (head, tail) = self.bytes.split_at(count);
        self.bytes = tail;
        Some(head)
    }

    fn i8(&mut self) -> Option<i8> {
        Some(self.take(1)?[0] as i8)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn string(&mut self) -> Option<Option<String>> {
        let length = self.i16()?;
        if length < 0 {
            return Some(None);
        }
        let bytes = self.take(length as usize)?;
        Some(Some(String::from_utf8_lossy(bytes).into_owned()))
    }

    fn array_length(&mut self) -> Option<i32> {
        self.i32()
    }
}

#[derive(Default)]
struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    fn i8(&mut self, value: i8) -> &mut Self {
        self.bytes.push(value as u8);
        self
    }

    fn i16(&mut self, value: i16) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    fn i32(&mut self, value: i32) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    fn string(&mut self, value: &str) -> &mut Self {
        self.i16(value.len() as i16);
        self.bytes.extend_from_slice(value.as_bytes());
        self
    }

    fn nullable_string(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.string(value),
            None => self.i16(-1),
        }
    }

    fn uvarint(&mut self, mut value: u32) -> &mut Self {
        while value >= 0x80 {
            self.bytes.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.bytes.push(value as u8);
        self
    }
}

/// The versions this fake speaks: (api key, min, max).
const SUPPORTED: &[(i16, i16, i16)] = &[
    (API_METADATA, 1, 1),
    (API_API_VERSIONS, 0, 3),
    (API_CREATE_TOPICS, 4, 4),
    (API_DESCRIBE_CONFIGS, 0, 0),
];

fn answer(request: &[u8], address: SocketAddr, state: &Mutex<State>) -> Option<Vec<u8>> {
    let mut reader = Reader { bytes: request };
    let api_key = reader.i16()?;
    let api_version = reader.i16()?;
    let correlation_id = reader.i32()?;
    let _client_id = reader.string()?;
    let mut out = Writer::default();
    out.i32(correlation_id);
    match api_key {
        API_API_VERSIONS => {
            // the response header stays v0 even for v3; the body is flexible from v3
            if api_version >= 3 {
                out.i16(0).uvarint(SUPPORTED.len() as u32 + 1);
                for (key, min, max) in SUPPORTED {
                    out.i16(*key).i16(*min).i16(*max).uvarint(0);
                }
                out.i32(0).uvarint(0);
            } else {
                out.i16(if api_version > 3 {
                    UNSUPPORTED_VERSION
                } else {
                    0
                })
                .i32(SUPPORTED.len() as i32);
                for (key, min, max) in SUPPORTED {
                    out.i16(*key).i16(*min).i16(*max);
                }
                if api_version >= 1 {
                    out.i32(0);
                }
            }
        }
        API_METADATA => {
            let count = reader.array_length()?;
            let mut wanted = Vec::new();
            for _ in 0..count.max(0) {
                wanted.push(reader.string()?.unwrap_or_default());
            }
            let state = state.lock();
            let names: Vec<String> = if count < 0 {
                state.topics.keys().cloned().collect()
            } else {
                wanted
            };
            out.i32(1)
                .i32(1)
                .string(&address.ip().to_string())
                .i32(i32::from(address.port()))
                .nullable_string(None);
            out.i32(1); // controller
            out.i32(names.len() as i32);
            for name in names {
                match state.topics.get(&name) {
                    Some(topic) => {
                        out.i16(0).string(&name).i8(0).i32(topic.partitions);
                        for partition in 0..topic.partitions {
                            out.i16(0).i32(partition).i32(1).i32(1).i32(1).i32(1).i32(1);
                        }
                    }
                    None => {
                        out.i16(UNKNOWN_TOPIC_OR_PARTITION)
                            .string(&name)
                            .i8(0)
                            .i32(0);
                    }
                }
            }
        }
        API_CREATE_TOPICS => {
            let count = reader.array_length()?;
            let mut results = Vec::new();
            for _ in 0..count.max(0) {
                let name = reader.string()?.unwrap_or_default();
                let partitions = reader.i32()?;
                let replication_factor = reader.i16()?;
                let assignments = reader.array_length()?;
                for _ in 0..assignments.max(0) {
                    reader.i32()?;
                    let brokers = reader.array_length()?;
                    for _ in 0..brokers.max(0) {
                        reader.i32()?;
                    }
                }
                let config_count = reader.array_length()?;
                let mut configs = BTreeMap::new();
                for _ in 0..config_count.max(0) {
                    let key = reader.string()?.unwrap_or_default();
                    let value = reader.string()?.unwrap_or_default();
                    configs.insert(key, value);
                }
                let mut state = state.lock();
                state.created.push(CreateRequest {
                    name: name.clone(),
                    partitions,
                    replication_factor,
                    configs: configs.clone(),
                });
                state.topics.insert(
                    name.clone(),
                    FakeTopic {
                        partitions: partitions.max(1),
                        configs,
                    },
                );
                results.push(name);
            }
            out.i32(0).i32(results.len() as i32);
            for name in results {
                out.string(&name).i16(0).nullable_string(None);
            }
        }
        API_DESCRIBE_CONFIGS => {
            let count = reader.array_length()?;
            let mut resources = Vec::new();
            for _ in 0..count.max(0) {
                let resource_type = reader.i8()?;
                let name = reader.string()?.unwrap_or_default();
                let keys = reader.array_length()?;
                for _ in 0..keys.max(0) {
                    reader.string()?;
                }
                resources.push((resource_type, name));
            }
            let state = state.lock();
            out.i32(0).i32(resources.len() as i32);
            for (resource_type, name) in resources {
                let error = state.describe_error.or_else(|| {
                    (!state.topics.contains_key(&name)).then_some(UNKNOWN_TOPIC_OR_PARTITION)
                });
                match (error, state.topics.get(&name)) {
                    (None, Some(topic)) => {
                        out.i16(0)
                            .nullable_string(None)
                            .i8(resource_type)
                            .string(&name)
                            .i32(topic.configs.len() as i32);
                        for (key, value) in &topic.configs {
                            out.string(key)
                                .nullable_string(Some(value))
                                .i8(0)
                                .i8(0)
                                .i8(0);
                        }
                    }
                    (error, _) => {
                        let code = error.unwrap_or(TOPIC_AUTHORIZATION_FAILED);
                        out.i16(code)
                            .nullable_string(Some("refused by the fake broker"))
                            .i8(resource_type)
                            .string(&name)
                            .i32(0);
                    }
                }
            }
        }
        _ => return None,
    }
    Some(out.bytes)
}
