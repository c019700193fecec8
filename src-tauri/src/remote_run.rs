//! One generation on a remote server for the window ("run on: a server"): the card's prompt
//! goes to the server's `/v1/completions` through `jslm_remote::Remote`, and the answer comes
//! back as the same `GenerationEvent`s a local run sends (`Started`, a `Token` per streamed
//! piece, `Finished`), so the output view, Stop, the stats and the history work unchanged.
//! The history entry names the endpoint and the model that answered.

use crate::error::AppResult;
use crate::generation::now_ms;
use crate::history::{HistoryEntry, RemoteRun};
use crate::host::RemoteTicket;
use jslm_engine::{GenerationEvent, GenerationRequest};
use jslm_remote::{Remote, RemoteConfig, RemoteOutput};

/// Runs `request` on the server `config` names. `send` forwards an event and returns false
/// when nobody listens any more (the window closed): the run is then stopped.
pub async fn run(
    ticket: &RemoteTicket,
    config: RemoteConfig,
    request: &GenerationRequest,
    mut send: impl FnMut(&GenerationEvent) -> bool + Send,
) -> AppResult<RemoteOutput> {
    let cancel = ticket.cancel.clone();
    // The seed the client will send (the window fixes one before a run; a request without
    // gets one drawn here, as the client would): `Started` reports it before the client has.
    let seed = request.settings.seed_or_draw();
    let request = &GenerationRequest {
        settings: jslm_engine::GenerationSettings {
            seed: Some(seed),
            ..request.settings.clone()
        },
        ..request.clone()
    };
    let endpoint = config.url.clone();
    // Finding the server's model can wait on a server that never answers: Stop ends it.
    let remote = tokio::select! {
        remote = Remote::connect(config) => remote?,
        () = crate::serving::cancelled(&ticket.cancel) => {
            let _ = send(&GenerationEvent::Started { prompt_tokens: 0, seed });
            let output = RemoteOutput::not_started(
                jslm_engine::PromptTemplate.build(&request.instruction, &request.input),
                endpoint,
                Some(seed),
            );
            send(&GenerationEvent::Finished {
                reason: output.stop_reason,
                stats: output.stats.clone(),
            });
            return Ok(output);
        }
    };
    if !send(&GenerationEvent::Started {
        prompt_tokens: 0,
        seed,
    }) {
        cancel.cancel();
    }
    let output = remote
        .generate(request, &ticket.cancel, |text| {
            let token = GenerationEvent::Token {
                id: 0,
                text: text.to_string(),
            };
            if !send(&token) {
                cancel.cancel();
            }
        })
        .await?;
    // The stats as the client reports them, its seed included.
    send(&GenerationEvent::Finished {
        reason: output.stop_reason,
        stats: output.stats.clone(),
    });
    Ok(output)
}

/// The history entry of a finished remote run.
pub fn entry_for(request: &GenerationRequest, output: &RemoteOutput) -> HistoryEntry {
    let mut stats = output.stats.clone();
    if stats.generated_tokens == 0 && !output.text.is_empty() {
        // A server that sent no usage: count the streamed pieces' text as at least one token,
        // so the run is kept.
        stats.generated_tokens = 1;
    }
    HistoryEntry {
        id: String::new(),
        created_at_ms: now_ms(),
        instruction: request.instruction.clone(),
        input: request.input.clone(),
        settings: request.settings.clone(),
        model: None,
        remote: Some(RemoteRun {
            endpoint: output.endpoint.clone(),
            model: output.model.clone(),
        }),
        output: output.text.clone(),
        stop_reason: output.stop_reason,
        stats,
    }
}
