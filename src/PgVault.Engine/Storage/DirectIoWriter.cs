using System.Collections.Concurrent;
using System.ComponentModel;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace PgVault.Engine.Storage;

/// <summary>
/// Writes a stream into a new, open file with direct I/O (<c>O_DIRECT</c>) on Linux, from aligned, pinned 1 MiB
/// buffers: the data goes from PgVault's buffer to the disk without a copy into the page cache, which saves the kernel
/// CPU of that copy (bench/README.md, bench/restore, has the figures), and nothing is left dirty for the final fsync to
/// flush. A file's last partial 4 KiB block is written
/// through the page cache. Filesystems without direct I/O (tmpfs, some network filesystems) refuse it with EINVAL: the
/// writer then writes through the page cache from then on and says so once. Thread-safe: concurrent writes each take
/// a buffer from a small pool.
/// </summary>
/// <param name="logger">Where the one message about a fallback goes.</param>
/// <param name="enabled">False: always through the page cache.</param>
/// <param name="what">Who writes, for that message ("restore", "repository").</param>
internal sealed class DirectIoWriter(ILogger? logger, bool enabled, string what)
{
    public const int Alignment = 4096;
    public const int BufferBytes = 1 << 20;
    private const int FGetFl = 3;
    private const int FSetFl = 4;
    private const int EInval = 22;
    private const int PooledBuffers = 4;

    private readonly ConcurrentBag<AlignedBuffer> _buffers = [];
    private volatile bool _direct = enabled && OperatingSystem.IsLinux() && ODirect != 0;

    /// <summary>Whether files are (still) written with direct I/O.</summary>
    public bool DirectIo => _direct;

    /// <summary>O_DIRECT's value on this architecture (0 when unknown: no direct I/O).</summary>
    private static int ODirect => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => 0,
    };

    /// <summary>
    /// Writes <paramref name="data"/> (to its end) into <paramref name="handle"/> (a new, empty file opened for writing,
    /// named <paramref name="path"/> in messages) and returns the bytes written. With <paramref name="smallBuffered"/>
    /// content smaller than one buffer (1 MiB) goes through the page cache: direct I/O starts with the first full buffer.
    /// Does not flush: the caller fsyncs when it needs the data durable.
    /// </summary>
    public async Task<long> WriteAsync(SafeFileHandle handle, string path, Stream data, bool smallBuffered, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentNullException.ThrowIfNull(data);
        var lease = Rent();
        try
        {
            var buffer = lease.Memory;
            var direct = false;
            var tried = false;
            long position = 0;
            while (true)
            {
                var filled = 0;
                while (filled < BufferBytes)
                {
                    var read = await data.ReadAsync(buffer[filled..], ct).ConfigureAwait(false);
                    if (read == 0)
                        break;
                    filled += read;
                }

                if (filled == 0)
                    return position;
                if (!tried && _direct && (!smallBuffered || filled == BufferBytes))
                {
                    tried = true;
                    direct = SetDirect(handle, on: true, path);
                }

                var whole = direct ? filled & ~(Alignment - 1) : filled;
                if (whole > 0)
                {
                    try
                    {
                        await RandomAccess.WriteAsync(handle, buffer[..whole], position, ct).ConfigureAwait(false);
                    }
                    catch (IOException e) when (direct)
                    {
                        // Some filesystems accept O_DIRECT but not the write (alignment rules of their own): once more
                        // through the page cache, and no direct I/O from now on.
                        _direct = direct = false;
                        _ = SetDirect(handle, on: false, path);
                        logger?.LogInformation("{What}: direct I/O write to '{Path}' failed ({Message}); writing through the page cache",
                            what, path, e.Message);
                        await RandomAccess.WriteAsync(handle, buffer[..whole], position, ct).ConfigureAwait(false);
                    }

                    position += whole;
                }

                if (whole < filled)
                {
                    // The unaligned tail (only ever with direct I/O on): through the page cache.
                    _ = SetDirect(handle, on: false, path);
                    direct = false;
                    await RandomAccess.WriteAsync(handle, buffer[whole..filled], position, ct).ConfigureAwait(false);
                    position += filled - whole;
                }

                if (filled < BufferBytes)
                    return position;
            }
        }
        finally
        {
            if (_buffers.Count < PooledBuffers)
                _buffers.Add(lease);
        }
    }

    private AlignedBuffer Rent() => _buffers.TryTake(out var buffer) ? buffer : new AlignedBuffer();

    /// <summary>
    /// Turns O_DIRECT on or off for an open file; true when it is now as asked. A filesystem that refuses direct I/O
    /// turns it off from then on.
    /// </summary>
    private bool SetDirect(SafeFileHandle handle, bool on, string path)
    {
        var fd = (int)handle.DangerousGetHandle();
        var flags = NativeMethods.Fcntl(fd, FGetFl, 0);
        if (flags >= 0)
        {
            var wanted = on ? flags | ODirect : flags & ~ODirect;
            if (wanted == flags || NativeMethods.Fcntl(fd, FSetFl, wanted) == 0)
                return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        if (on && errno == EInval)
        {
            _direct = false;
            logger?.LogInformation("{What}: the filesystem of '{Path}' does not support direct I/O; writing through the page cache", what, path);
            return false;
        }

        throw new IOException($"unable to {(on ? "enable" : "disable")} direct I/O on '{path}' (fcntl: {new Win32Exception(errno).Message})", errno);
    }

    /// <summary>A pinned array with a 4 KiB-aligned window of <see cref="BufferBytes"/> (direct I/O needs aligned addresses).</summary>
    private sealed class AlignedBuffer
    {
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(BufferBytes + Alignment, pinned: true);
        private readonly int _offset;

        public AlignedBuffer()
        {
            var address = Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0).ToInt64();
            _offset = (int)((Alignment - (address % Alignment)) % Alignment);
        }

        public Memory<byte> Memory => _array.AsMemory(_offset, BufferBytes);
    }

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Fcntl(int fd, int cmd, int arg);
    }
}
