//! The three embedding wire formats: each request body, where it goes, how the key is sent,
//! and how the answer (or the server's error) is read.

use memory::Purpose;
use serde_json::{Value, json};

/// A provider's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `POST {base}/embeddings` (base ends in `/v1`), bearer key, `data[i].embedding` by `index`.
    OpenAi,
    /// `POST {base}/api/embed`, `truncate: false` (an input too long is an error, not cut).
    Ollama,
    /// `POST {base}/v1beta/models/{model}:batchEmbedContents`, key in `x-goog-api-key`.
    Gemini,
}

impl Wire {
    pub fn for_provider(provider: &str) -> Option<Wire> {
        match provider {
            "openai" => Some(Wire::OpenAi),
            "ollama" => Some(Wire::Ollama),
            "gemini" => Some(Wire::Gemini),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Wire::OpenAi => "openai",
            Wire::Ollama => "ollama",
            Wire::Gemini => "gemini",
        }
    }

    pub fn default_base(self) -> &'static str {
        match self {
            Wire::OpenAi => "https://api.openai.com/v1",
            Wire::Ollama => "http://localhost:11434",
            Wire::Gemini => "https://generativelanguage.googleapis.com",
        }
    }

    /// The request URL (the model id goes in Gemini's path, percent-encoded).
    pub fn url(self, base: &str, model: &str) -> String {
        let base = base.trim_end_matches('/');
        match self {
            Wire::OpenAi => format!("{base}/embeddings"),
            Wire::Ollama => format!("{base}/api/embed"),
            Wire::Gemini => {
                let model = model.strip_prefix("models/").unwrap_or(model);
                let encoded: String = model
                    .bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect();
                format!("{base}/v1beta/models/{encoded}:batchEmbedContents")
            }
        }
    }

    /// The header carrying the key, and its value.
    pub fn auth(self, key: &str) -> (&'static str, String) {
        match self {
            Wire::Gemini => ("x-goog-api-key", key.to_string()),
            _ => ("authorization", format!("Bearer {key}")),
        }
    }

    pub fn body(self, model: &str, texts: &[&str], purpose: Purpose, dims: Option<usize>) -> Value {
        match self {
            Wire::OpenAi => {
                let mut body = json!({"model": model, "input": texts, "encoding_format": "float"});
                if let Some(d) = dims {
                    body["dimensions"] = json!(d);
                }
                body
            }
            Wire::Ollama => {
                let mut body = json!({"model": model, "input": texts, "truncate": false});
                if let Some(d) = dims {
                    body["dimensions"] = json!(d);
                }
                body
            }
            Wire::Gemini => {
                let name = format!("models/{}", model.strip_prefix("models/").unwrap_or(model));
                let task = match purpose {
                    Purpose::Document => "RETRIEVAL_DOCUMENT",
                    Purpose::Query => "RETRIEVAL_QUERY",
                };
                let requests: Vec<Value> = texts
                    .iter()
                    .map(|t| {
                        let mut r = json!({"model": name, "content": {"parts": [{"text": t}]}, "taskType": task});
                        if let Some(d) = dims {
                            r["outputDimensionality"] = json!(d);
                        }
                        r
                    })
                    .collect();
                json!({"requests": requests})
            }
        }
    }

    /// The vectors of a 200 answer, in the order of the texts.
    pub fn parse(self, body: &Value, texts: usize) -> Result<Vec<Vec<f32>>, String> {
        let numbers =
            |v: &Value| -> Option<Vec<f32>> { v.as_array()?.iter().map(|x| x.as_f64().map(|f| f as f32)).collect() };
        let vectors: Option<Vec<Vec<f32>>> = match self {
            Wire::OpenAi => {
                let data = body["data"].as_array().ok_or("the answer has no `data` list")?;
                let mut out = vec![None; texts];
                for (i, item) in data.iter().enumerate() {
                    let index = item["index"].as_u64().map_or(i, |n| n as usize);
                    let slot =
                        out.get_mut(index).ok_or_else(|| format!("the answer has an item with index {index}"))?;
                    *slot = numbers(&item["embedding"]);
                }
                out.into_iter().collect()
            }
            Wire::Ollama => {
                body["embeddings"].as_array().map(|a| a.iter().map(numbers).collect::<Option<Vec<_>>>()).unwrap_or(None)
            }
            Wire::Gemini => body["embeddings"]
                .as_array()
                .map(|a| a.iter().map(|e| numbers(&e["values"])).collect::<Option<Vec<_>>>())
                .unwrap_or(None),
        };
        let vectors = vectors.ok_or("the answer's vectors are missing or not lists of numbers")?;
        if vectors.len() != texts {
            return Err(format!("the answer has {} vectors for {texts} texts", vectors.len()));
        }
        Ok(vectors)
    }

    /// The server's own words from an error body (`{"error": {"message"}}`, `{"error": "…"}`).
    pub fn error_message(body: &str) -> String {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let message = parsed.as_ref().and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or_else(|| v["error"].as_str())
                .or_else(|| v["message"].as_str())
                .map(str::to_string)
        });
        let text = message.unwrap_or_else(|| body.trim().to_string());
        let text: String = text.chars().take(300).collect();
        if text.is_empty() { "no message".into() } else { text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_urls() {
        let b = Wire::OpenAi.body("m", &["a", "b"], Purpose::Query, Some(256));
        assert_eq!(b, json!({"model": "m", "input": ["a", "b"], "encoding_format": "float", "dimensions": 256}));
        let b = Wire::Ollama.body("m", &["a"], Purpose::Document, None);
        assert_eq!(b, json!({"model": "m", "input": ["a"], "truncate": false}));
        let b = Wire::Gemini.body("gemini-embedding-001", &["a"], Purpose::Query, Some(64));
        assert_eq!(b["requests"][0]["taskType"], "RETRIEVAL_QUERY");
        assert_eq!(b["requests"][0]["model"], "models/gemini-embedding-001");
        assert_eq!(b["requests"][0]["outputDimensionality"], 64);
        assert_eq!(
            Wire::Gemini.body("m", &["a"], Purpose::Document, None)["requests"][0]["taskType"],
            "RETRIEVAL_DOCUMENT"
        );
        assert_eq!(Wire::OpenAi.url("http://h/v1/", "m"), "http://h/v1/embeddings");
        assert_eq!(Wire::Gemini.url("https://g", "models/a b"), "https://g/v1beta/models/a%20b:batchEmbedContents");
    }

    #[test]
    fn answers_in_order_and_errors_in_the_servers_words() {
        let body = json!({"data": [{"index": 1, "embedding": [0.5]}, {"index": 0, "embedding": [0.25]}]});
        assert_eq!(Wire::OpenAi.parse(&body, 2).unwrap(), vec![vec![0.25], vec![0.5]]);
        assert!(Wire::OpenAi.parse(&body, 3).is_err());
        assert_eq!(Wire::Ollama.parse(&json!({"embeddings": [[1.0, 2.0]]}), 1).unwrap(), vec![vec![1.0, 2.0]]);
        assert!(Wire::Ollama.parse(&json!({"embeddings": [["x"]]}), 1).is_err());
        assert_eq!(Wire::Gemini.parse(&json!({"embeddings": [{"values": [3.0]}]}), 1).unwrap(), vec![vec![3.0]]);
        assert_eq!(Wire::error_message(r#"{"error":{"message":"bad model"}}"#), "bad model");
        assert_eq!(Wire::error_message(r#"{"error":"input too long"}"#), "input too long");
        assert_eq!(Wire::error_message("  "), "no message");
    }
}
