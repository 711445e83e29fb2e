//! The gateway's chat answer as a Responses object, whole or as the typed event
//! stream.
//!
//! The first choice is the response (Responses has no `n`): its text is one
//! `message` output item with one `output_text` part, each tool call a
//! `function_call` item. `length` makes the response `incomplete` with
//! `incomplete_details.reason = "max_output_tokens"`.
//!
//! A stream is `response.created`, `response.in_progress`, then per output item
//! `response.output_item.added`; for a message `response.content_part.added`,
//! `response.output_text.delta`…, `response.output_text.done`,
//! `response.content_part.done`; for a function call
//! `response.function_call_arguments.delta` and `.done`; then
//! `response.output_item.done`; and last `response.completed` (or
//! `response.incomplete`) with the whole response. Every event has a
//! `sequence_number`. A failure is an `error` event and nothing more.

use serde_json::{json, Map, Value};

use super::{
    Echo, IncompleteDetails, OutputItem, OutputText, Response, ResponseUsage, StreamEvent,
    TextFormat, TextParam,
};
use crate::chat::{ChatCompletion, ChatCompletionChunk, FinishReason, ToolCall};
use crate::{ApiError, Usage};

/// The id's tail after its `chatcmpl-` (or a provider's `msg_`) prefix.
fn tail(id: &str) -> &str {
    id.split_once('-')
        .map_or(id, |(_, t)| t)
        .trim_start_matches("msg_")
}

fn function_item(call: &ToolCall, status: &'static str, arguments: String) -> OutputItem {
    OutputItem::FunctionCall {
        id: format!("fc_{}", call.id),
        call_id: call.id.clone(),
        name: call.function.name.clone(),
        arguments,
        status,
    }
}

/// A response in `status`, with these output items and usage.
fn response(
    id: &str,
    model: &str,
    created: u64,
    echo: &Echo,
    status: &'static str,
    output: Vec<OutputItem>,
    usage: Option<ResponseUsage>,
) -> Response {
    let finished = matches!(status, "completed" | "incomplete");
    Response {
        id: id.to_string(),
        object: "response",
        created_at: created,
        completed_at: finished.then(crate::ids::unix_now),
        status,
        error: None,
        incomplete_details: (status == "incomplete").then_some(IncompleteDetails {
            reason: "max_output_tokens",
        }),
        instructions: echo.instructions.clone(),
        max_output_tokens: echo.max_output_tokens,
        model: model.to_string(),
        output,
        parallel_tool_calls: echo.parallel_tool_calls,
        previous_response_id: None,
        reasoning: None,
        store: false,
        temperature: echo.temperature,
        text: echo.text.clone().unwrap_or(TextParam {
            format: Some(TextFormat::Text),
            verbosity: None,
        }),
        tool_choice: echo.tool_choice.clone().unwrap_or_else(|| json!("auto")),
        tools: echo.tools.clone(),
        top_p: echo.top_p,
        truncation: "disabled",
        usage,
        user: echo.user.clone(),
        metadata: echo.metadata.clone(),
    }
}

fn status_of(f: Option<FinishReason>) -> &'static str {
    if f == Some(FinishReason::Length) {
        "incomplete"
    } else {
        "completed"
    }
}

/// A whole chat completion as a response.
pub fn response_from_chat(c: ChatCompletion, echo: &Echo) -> Response {
    let id = format!("resp_{}", tail(&c.id));
    let mut output = Vec::new();
    let mut finish = None;
    if let Some(choice) = c.choices.into_iter().next() {
        finish = Some(choice.finish_reason);
        if let Some(text) = choice.message.content.filter(|t| !t.is_empty()) {
            output.push(OutputItem::Message {
                id: format!("msg_{}", tail(&c.id)),
                role: "assistant",
                status: status_of(finish),
                content: vec![OutputText::new(text)],
            });
        }
        for call in choice.message.tool_calls.iter().flatten() {
            output.push(function_item(
                call,
                "completed",
                call.function.arguments.clone(),
            ));
        }
    }
    let usage = Some(ResponseUsage::of(c.usage));
    response(
        &id,
        &c.model,
        c.created,
        echo,
        status_of(finish),
        output,
        usage,
    )
}

/// The message item being streamed: its index, id and text so far.
#[derive(Debug)]
struct OpenMessage {
    index: usize,
    id: String,
    text: String,
}

/// Turns chat chunks into the Responses event stream (see the module docs).
#[derive(Debug)]
pub struct ResponseStream {
    echo: Echo,
    started: bool,
    id: String,
    model: String,
    created: u64,
    sequence: u64,
    output: Vec<OutputItem>,
    open: Option<OpenMessage>,
    finish: Option<FinishReason>,
}

impl ResponseStream {
    pub fn new(echo: Echo) -> Self {
        Self {
            echo,
            started: false,
            id: String::new(),
            model: String::new(),
            created: 0,
            sequence: 0,
            output: Vec::new(),
            open: None,
            finish: None,
        }
    }

    fn event(&mut self, kind: &'static str, body: Value) -> StreamEvent {
        let body = match body {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let e = StreamEvent {
            kind,
            sequence_number: self.sequence,
            body,
        };
        self.sequence += 1;
        e
    }

    fn snapshot(&self, status: &'static str, usage: Option<ResponseUsage>) -> Value {
        let r = response(
            &self.id,
            &self.model,
            self.created,
            &self.echo,
            status,
            self.output.clone(),
            usage,
        );
        serde_json::to_value(r).unwrap_or(Value::Null)
    }

    fn start(&mut self, id: &str, model: &str, created: u64, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = format!("resp_{}", tail(id));
        self.model = model.to_string();
        self.created = created;
        for kind in ["response.created", "response.in_progress"] {
            let r = self.snapshot("in_progress", None);
            let e = self.event(kind, json!({ "response": r }));
            out.push(e);
        }
    }

    fn close_message(&mut self, out: &mut Vec<StreamEvent>) {
        let Some(m) = self.open.take() else { return };
        let part = OutputText::new(m.text.clone());
        let e = self.event(
            "response.output_text.done",
            json!({"item_id": m.id, "output_index": m.index, "content_index": 0,
                   "text": m.text, "logprobs": []}),
        );
        out.push(e);
        let e = self.event(
            "response.content_part.done",
            json!({"item_id": m.id, "output_index": m.index, "content_index": 0, "part": part}),
        );
        out.push(e);
        let item = OutputItem::Message {
            id: m.id.clone(),
            role: "assistant",
            status: "completed",
            content: vec![part],
        };
        let e = self.event(
            "response.output_item.done",
            json!({"output_index": m.index, "item": item}),
        );
        out.push(e);
        self.output.push(item);
    }

    fn text(&mut self, delta: &str, out: &mut Vec<StreamEvent>) {
        if self.open.is_none() {
            let index = self.output.len();
            let id = format!("msg_{}", self.id.trim_start_matches("resp_"));
            let item = OutputItem::Message {
                id: id.clone(),
                role: "assistant",
                status: "in_progress",
                content: Vec::new(),
            };
            let e = self.event(
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            );
            out.push(e);
            let e = self.event(
                "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0,
                       "part": OutputText::new(String::new())}),
            );
            out.push(e);
            self.open = Some(OpenMessage {
                index,
                id,
                text: String::new(),
            });
        }
        let Some(m) = self.open.as_mut() else { return };
        m.text.push_str(delta);
        let (id, index) = (m.id.clone(), m.index);
        let e = self.event(
            "response.output_text.delta",
            json!({"item_id": id, "output_index": index, "content_index": 0,
                   "delta": delta, "logprobs": []}),
        );
        out.push(e);
    }

    fn call(&mut self, call: &ToolCall, out: &mut Vec<StreamEvent>) {
        self.close_message(out);
        let index = self.output.len();
        let item_id = format!("fc_{}", call.id);
        let added = function_item(call, "in_progress", String::new());
        let e = self.event(
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
        );
        out.push(e);
        let args = call.function.arguments.clone();
        let e = self.event(
            "response.function_call_arguments.delta",
            json!({"item_id": item_id, "output_index": index, "delta": args}),
        );
        out.push(e);
        let e = self.event(
            "response.function_call_arguments.done",
            json!({"item_id": item_id, "output_index": index, "name": call.function.name,
                   "arguments": args}),
        );
        out.push(e);
        let done = function_item(call, "completed", args);
        let e = self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": done}),
        );
        out.push(e);
        self.output.push(done);
    }

    /// The events for one chat chunk (its first choice).
    pub fn chunk(&mut self, c: &ChatCompletionChunk) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        self.start(&c.id, &c.model, c.created, &mut out);
        let Some(choice) = c.choices.iter().find(|ch| ch.index == 0) else {
            return out;
        };
        if let Some(text) = choice.delta.content.as_deref().filter(|t| !t.is_empty()) {
            self.text(text, &mut out);
        }
        for d in choice.delta.tool_calls.iter().flatten() {
            let call = ToolCall {
                id: d.id.clone(),
                kind: d.kind.clone(),
                function: d.function.clone(),
            };
            self.call(&call, &mut out);
        }
        if choice.finish_reason.is_some() {
            self.finish = choice.finish_reason;
        }
        out
    }

    /// The closing events, with the answer's usage.
    pub fn done(&mut self, usage: Usage) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if !self.started {
            let id = crate::ids::new_id("chatcmpl");
            self.start(&id, "", crate::ids::unix_now(), &mut out);
        }
        self.close_message(&mut out);
        let status = status_of(self.finish);
        let r = self.snapshot(status, Some(ResponseUsage::of(usage)));
        let kind = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        let e = self.event(kind, json!({ "response": r }));
        out.push(e);
        out
    }

    /// A failure after the stream began: an `error` event.
    pub fn error(&mut self, e: &ApiError) -> Vec<StreamEvent> {
        vec![self.event(
            "error",
            json!({"code": e.code.as_str(), "message": e.message, "param": e.param}),
        )]
    }
}
