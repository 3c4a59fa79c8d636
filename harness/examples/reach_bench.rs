//! What a probe costs through the engine (the relay helper on the trial network, over the engine's
//! exec stream) beside the same probe sent directly, on the engine crossgrade would use
//! (`DOCKER_HOST`, contexts: as `crossgrade run`). Prints figures; asserts nothing.
//!
//!   cargo run --release -p crossgrade --example reach_bench [-- N]   # N requests a row (default 300)
//!
//! Needs the relay image (`CROSSGRADE_REACH=engine crossgrade images build`). It starts, on a
//! network of its own, a target (the relay image running Python's `http.server`) and a relay
//! helper, then times, one after another: HTTP GETs and TCP probes directly (unless this host
//! cannot reach the engine's networks) and through the relay; an exec of `true` in the helper (the
//! floor of a design that execs a process per probe); and HTTP GETs through the relay 8 at a time.
//! Everything it made is removed at the end (labelled `crossgrade.run=bench-reach-<pid>`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossgrade::runtime::{
    labels, Backend, ContainerSpec, Endpoint, Engine, HttpCall, SweepGuard, LABEL_RUN, RELAY_IMAGE,
};

const WARMUP: usize = 20;

/// The target's program: files of /etc over HTTP on port 8080.
const TARGET: &str = "import functools, http.server as h
class Quiet(h.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
h.ThreadingHTTPServer.request_queue_size = 512
h.ThreadingHTTPServer(('', 8080), functools.partial(Quiet, directory='/etc')).serve_forever()
";

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    if let Err(e) = rt.block_on(bench(n)) {
        eprintln!("reach bench: {e}");
        std::process::exit(1);
    }
}

/// Times of `n` calls of `f` (each says whether it got what it should), after a warm-up.
struct Times {
    each: Vec<Duration>,
    failed: usize,
}

async fn time<F, Fut>(n: usize, mut f: F) -> Times
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..WARMUP {
        f().await;
    }
    let mut t = Times {
        each: Vec::with_capacity(n),
        failed: 0,
    };
    for _ in 0..n {
        let started = Instant::now();
        let ok = f().await;
        t.each.push(started.elapsed());
        t.failed += usize::from(!ok);
    }
    t
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `what`: median, p90, p99 and mean of `times`, in ms, and how many failed; returns the median.
fn show(what: &str, mut times: Times) -> f64 {
    let each = &mut times.each;
    each.sort();
    let at = |q: f64| ms(each[((each.len() - 1) as f64 * q).round() as usize]);
    let mean = ms(each.iter().sum::<Duration>()) / each.len() as f64;
    println!(
        "{what:<46} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>6}",
        at(0.5),
        at(0.9),
        at(0.99),
        mean,
        times.failed
    );
    at(0.5)
}

async fn bench(n: usize) -> Result<(), String> {
    let engine = Engine::connect().await.map_err(|e| e.to_string())?;
    let backend: Arc<dyn Backend> = Arc::new(engine.clone());
    if !backend
        .image_exists(RELAY_IMAGE)
        .await
        .map_err(|e| e.to_string())?
    {
        return Err(format!(
            "{RELAY_IMAGE} is missing: build it with `CROSSGRADE_REACH=engine crossgrade images build`"
        ));
    }
    let run = format!("bench-reach-{}", std::process::id());
    let _guard = SweepGuard::new(backend.clone(), format!("{LABEL_RUN}={run}"));
    let labels = labels(&run, None);
    let network = format!("cg-{run}");
    let err = |e: crossgrade::runtime::EngineError| e.to_string();
    backend
        .create_network(&network, &labels)
        .await
        .map_err(err)?;
    let target = backend
        .start_container(&ContainerSpec {
            name: format!("{network}-target"),
            image: RELAY_IMAGE.into(),
            hostname: "target".into(),
            network: network.clone(),
            entrypoint: Some(vec!["python3".into()]),
            // Python's threading HTTP server, quiet, with a listen queue long enough for probes
            // that connect and leave at once (its default of 5 drops SYNs on a loaded machine).
            cmd: Some(vec!["-c".into(), TARGET.into()]),
            labels: labels.clone(),
            ..Default::default()
        })
        .await
        .map_err(err)?;
    // The target is up once it accepts connections, tried from a container beside it.
    let probe = ContainerSpec {
        name: format!("{network}-probe"),
        image: RELAY_IMAGE.into(),
        hostname: "probe".into(),
        network: network.clone(),
        labels: labels.clone(),
        ..Default::default()
    };
    let prober = backend.start_container(&probe).await.map_err(err)?;
    let ip = backend
        .ip_on(&target, &network)
        .await
        .map_err(err)?
        .ok_or("the target has no address")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let up = Endpoint {
        container: target.clone(),
        ip,
        via: Some(prober),
    };
    while !backend
        .tcp_accepts(&up, 8080, Duration::from_secs(1))
        .await
        .map_err(err)?
    {
        if Instant::now() > deadline {
            return Err("the target did not accept connections within 30s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What a trial pays once through the engine: its helper started, and its relay's session
    // opened by the first request.
    let setup = Instant::now();
    let helper = backend
        .start_container(&ContainerSpec {
            name: format!("{network}-relay"),
            image: RELAY_IMAGE.into(),
            hostname: "relay".into(),
            network: network.clone(),
            labels: labels.clone(),
            ..Default::default()
        })
        .await
        .map_err(err)?;
    let direct = Endpoint {
        container: target.clone(),
        ip,
        via: None,
    };
    let relayed = Endpoint {
        via: Some(helper.clone()),
        ..direct.clone()
    };
    let call = HttpCall {
        method: "GET".into(),
        port: 8080,
        path: "/hostname".into(),
        body: None,
        timeout: Duration::from_secs(2),
    };
    match backend.http(&relayed, &call).await.map_err(err)? {
        Ok(a) if a.status == 200 => {}
        other => return Err(format!("the target answered the relay {other:?}")),
    }
    let setup = setup.elapsed();
    let reachable = backend.answers_directly(ip, Duration::from_secs(3)).await;

    println!(
        "engine {} at {}; {n} requests per row, one at a time unless said (ms)",
        backend.describe().await.unwrap_or_default(),
        engine.address()
    );
    println!(
        "once per trial through the engine: the relay helper started and its session opened in \
         {:.0} ms",
        ms(setup)
    );
    println!(
        "{:<46} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "", "median", "p90", "p99", "mean", "failed"
    );
    let http = |to: Endpoint| {
        let (b, c) = (backend.clone(), call.clone());
        move || {
            let (b, c, to) = (b.clone(), c.clone(), to.clone());
            async move { matches!(b.http(&to, &c).await, Ok(Ok(a)) if a.status == 200) }
        }
    };
    let tcp = |to: Endpoint| {
        let b = backend.clone();
        move || {
            let (b, to) = (b.clone(), to.clone());
            async move {
                let open = b.tcp_accepts(&to, 8080, Duration::from_secs(1)).await;
                open.is_ok_and(|o| o)
            }
        }
    };
    let (mut http_direct, mut tcp_direct) = (None, None);
    if reachable {
        http_direct = Some(show(
            "HTTP GET, direct",
            time(n, http(direct.clone())).await,
        ));
    } else {
        println!("HTTP GET, direct: this host cannot reach the engine's networks");
    }
    let http_relay = show(
        "HTTP GET, through the engine (relay)",
        time(n, http(relayed.clone())).await,
    );
    if reachable {
        tcp_direct = Some(show(
            "TCP probe, direct",
            time(n, tcp(direct.clone())).await,
        ));
    }
    let tcp_relay = show(
        "TCP probe, through the engine (relay)",
        time(n, tcp(relayed.clone())).await,
    );
    let exec = {
        let (b, h) = (backend.clone(), helper.clone());
        move || {
            let (b, h) = (b.clone(), h.clone());
            async move {
                let out = b.exec(&h, &["true".to_string()], &[]).await;
                out.is_ok_and(|o| o.exit_code == Some(0))
            }
        }
    };
    show(
        "exec `true` in the helper (an exec per probe)",
        time(n.min(100), exec).await,
    );
    // Eight at a time: each request's own time, and the rate.
    let per = (n / 8).max(1);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let f = http(relayed.clone());
        tasks.push(tokio::spawn(async move { time(per, f).await }));
    }
    let mut all = Times {
        each: vec![],
        failed: 0,
    };
    for t in tasks {
        let t = t.await.map_err(|e| e.to_string())?;
        all.each.extend(t.each);
        all.failed += t.failed;
    }
    let took = started.elapsed();
    show("HTTP GET, through the engine, 8 at a time", all);
    println!(
        "  {:.0} requests/s through one relay, 8 at a time",
        (per * 8 + 8 * WARMUP) as f64 / took.as_secs_f64()
    );
    if let (Some(h), Some(t)) = (http_direct, tcp_direct) {
        println!(
            "extra per probe through the engine (medians): HTTP {:+.3} ms, TCP {:+.3} ms",
            http_relay - h,
            tcp_relay - t
        );
    }
    Ok(())
}
