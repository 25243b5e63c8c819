//! The TUN interface: opened with tun-tap, driven through tokio's `AsyncFd`, and given its
//! address, prefix route, MTU and link state over rtnetlink (never by running `ip`).

use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::AsRawFd;

use anyhow::{Context, bail};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tun_tap::{Iface, Mode};

/// Wrapper so `AsyncFd` gets an `AsRawFd` owner.
pub struct TunFd(Iface);

impl AsRawFd for TunFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

pub struct Tun {
    fd: AsyncFd<TunFd>,
    name: String,
}

/// Refuse early, with an actionable message, when the TUN cannot be created.
pub fn preflight() -> anyhow::Result<()> {
    if !std::path::Path::new("/dev/net/tun").exists() {
        bail!(
            "/dev/net/tun does not exist: load the tun module (modprobe tun) or, in a container, pass --device /dev/net/tun"
        );
    }
    Ok(())
}

impl Tun {
    /// Create (or attach to) the TUN `name` without packet information headers.
    pub fn open(name: &str) -> anyhow::Result<Tun> {
        preflight()?;
        let iface = Iface::without_packet_info(name, Mode::Tun).map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::PermissionDenied {
                " (lowpan-br needs root or CAP_NET_ADMIN to create a TUN interface)"
            } else {
                ""
            };
            anyhow::anyhow!("cannot create TUN interface {name}: {e}{hint}")
        })?;
        iface
            .set_non_blocking()
            .with_context(|| format!("cannot make TUN {name} non-blocking"))?;
        let name = iface.name().to_string();
        // SAFETY: `register` requires the fd to stay open and owned for as long as it is
        // registered. It is owned by the `Iface` inside `TunFd`, which the `AsyncFd` owns and
        // only gives back when deregistering, and nothing else closes or registers it.
        let fd = unsafe { AsyncFd::register_with_interest(TunFd(iface), Interest::READABLE) }
            .map_err(|e| anyhow::anyhow!("cannot register TUN {name} with tokio: {e}"))?;
        Ok(Tun { fd, name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Wait until a packet can be read, then read one into `buf`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| inner.get_ref().0.recv(buf)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Read one packet if one is waiting (never blocks).
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.get_ref().0.recv(buf)
    }

    /// Write one packet without waiting: a TUN whose queue is full drops, as a link would.
    pub fn try_send(&self, packet: &[u8]) -> io::Result<usize> {
        self.fd.get_ref().0.send(packet)
    }
}

/// Address, prefix route, MTU and link up, over rtnetlink. The kernel gives the TUN no
/// link-local address of its own: [`set_link_local`] gives it the border router's.
pub async fn configure(
    name: &str,
    address: Ipv6Addr,
    prefix: Ipv6Addr,
    mtu: u32,
) -> anyhow::Result<()> {
    let index = nix::net::if_::if_nametoindex(name)
        .with_context(|| format!("no interface named {name}"))?;
    // An interface without a link-layer address gets a random link-local IID from the
    // kernel; the mesh knows the border router by the one derived from its EUI-64.
    if let Err(e) = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/addr_gen_mode"), "1") {
        tracing::warn!(tun = name, error = %e, "cannot keep the kernel from adding its own link-local address");
    }
    let (conn, handle, _) = rtnetlink::new_connection().context("cannot open a netlink socket")?;
    let conn_task = tokio::spawn(conn);
    let result = async {
        handle
            .link()
            .set(
                rtnetlink::LinkUnspec::new_with_index(index)
                    .mtu(mtu)
                    .up()
                    .build(),
            )
            .execute()
            .await
            .with_context(|| format!("cannot set MTU {mtu} and bring {name} up"))?;
        ignore_exists(
            handle
                .address()
                .add(index, IpAddr::V6(address), 64)
                .execute()
                .await,
        )
        .with_context(|| format!("cannot add address {address}/64 to {name}"))?;
        // The kernel adds the prefix route with the address; adding it explicitly makes sure it
        // points at the TUN even when the address already existed.
        let route = rtnetlink::RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(prefix, 64)
            .output_interface(index)
            .build();
        ignore_exists(handle.route().add(route).execute().await)
            .with_context(|| format!("cannot add route {prefix}/64 via {name}"))?;
        anyhow::Ok(())
    }
    .await;
    conn_task.abort();
    result
}

/// Gives the TUN `address`/64, the border router's link-local address on the mesh
/// (`fe80::` and the IID of its EUI-64, RFC 4944 section 7), and removes every other
/// link-local address from it: packets the host sends to a mote's link-local address then
/// carry the source the mote answers to, and a mote's packets to the border router's
/// link-local address (ND and RPL use it as the router's) reach the host's sockets. No DAD:
/// the mesh has one owner of that IID, and it is us.
pub async fn set_link_local(name: &str, address: Ipv6Addr) -> anyhow::Result<()> {
    use futures::TryStreamExt;
    use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};

    let index = nix::net::if_::if_nametoindex(name)
        .with_context(|| format!("no interface named {name}"))?;
    let (conn, handle, _) = rtnetlink::new_connection().context("cannot open a netlink socket")?;
    let conn_task = tokio::spawn(conn);
    let result = async {
        let mut stale = Vec::new();
        let mut addresses = handle.address().get().set_link_index_filter(index).execute();
        while let Some(msg) = addresses.try_next().await.context("cannot list the TUN's addresses")? {
            let link_local_not_ours = msg.attributes.iter().any(|a| {
                matches!(a, AddressAttribute::Address(IpAddr::V6(a)) if a.is_unicast_link_local() && *a != address)
            });
            if link_local_not_ours {
                stale.push(msg);
            }
        }
        for msg in stale {
            handle.address().del(msg).execute().await.context("cannot remove a link-local address")?;
        }
        let mut add = handle.address().add(index, IpAddr::V6(address), 64);
        add.message_mut().attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
        ignore_exists(add.execute().await).with_context(|| format!("cannot add address {address}/64 to {name}"))?;
        anyhow::Ok(())
    }
    .await;
    conn_task.abort();
    result
}

fn ignore_exists(r: Result<(), rtnetlink::Error>) -> Result<(), rtnetlink::Error> {
    match r {
        Err(rtnetlink::Error::NetlinkError(m))
            if m.to_io().kind() == io::ErrorKind::AlreadyExists =>
        {
            Ok(())
        }
        other => other,
    }
}
