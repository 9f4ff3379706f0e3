//! A tiny HTTP/1.1 server for the tests: one request per connection,
//! hand-written responses, replies chosen per path, requests recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Clone)]
pub enum Reply {
    /// 200 with an ETag, or 304 if the request's If-None-Match has it.
    Module {
        body: Vec<u8>,
        etag: String,
    },
    Status(u16),
    /// Announces `announced` bytes, sends `body`, closes.
    Truncated {
        announced: usize,
        body: Vec<u8>,
    },
    /// No Content-Length: the body ends when the connection closes.
    Unsized(Vec<u8>),
    Redirect(String),
    /// Never answers.
    Hang,
}

#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub if_none_match: Option<String>,
}

pub struct Server {
    pub port: u16,
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    requests: Arc<Mutex<Vec<Request>>>,
    task: JoinHandle<()>,
}

impl Server {
    pub async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let replies = Arc::new(Mutex::new(HashMap::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let replies = replies.clone();
            let requests = requests.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, replies.clone(), requests.clone()));
                }
            }
        });
        Server {
            port,
            replies,
            requests,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn set(&self, path: &str, reply: Reply) {
        self.replies.lock().unwrap().insert(path.to_owned(), reply);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Closes the listening socket: later connections are refused.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn serve(
    mut stream: TcpStream,
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    requests: Arc<Mutex<Vec<Request>>>,
) {
    let mut head = Vec::new();
    let mut buffer = [0; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    let if_none_match = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("if-none-match")
            .then(|| value.trim().to_owned())
    });
    requests.lock().unwrap().push(Request {
        path: path.clone(),
        if_none_match: if_none_match.clone(),
    });
    let reply = replies.lock().unwrap().get(&path).cloned();
    let close = "Connection: close\r\n";
    let response = match reply {
        None => format!("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n{close}\r\n").into_bytes(),
        Some(Reply::Module { body: _, etag }) if if_none_match.as_ref() == Some(&etag) => {
            format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n{close}\r\n").into_bytes()
        }
        Some(Reply::Module { body, etag }) => {
            let mut response = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {etag}\r\n{close}\r\n",
                body.len()
            )
            .into_bytes();
            response.extend(body);
            response
        }
        Some(Reply::Status(status)) => {
            format!("HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\n{close}\r\n").into_bytes()
        }
        Some(Reply::Truncated { announced, body }) => {
            let mut response =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\n{close}\r\n")
                    .into_bytes();
            response.extend(body);
            response
        }
        Some(Reply::Unsized(body)) => {
            let mut response = format!("HTTP/1.1 200 OK\r\n{close}\r\n").into_bytes();
            response.extend(body);
            response
        }
        Some(Reply::Redirect(to)) => {
            format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n{close}\r\n")
                .into_bytes()
        }
        Some(Reply::Hang) => {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            return;
        }
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}
