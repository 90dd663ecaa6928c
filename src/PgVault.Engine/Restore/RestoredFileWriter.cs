using System.ComponentModel;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace PgVault.Engine.Restore;

/// <summary>
/// Writes the files of a restore. On Linux it writes with direct I/O (<c>O_DIRECT</c>) from an aligned 1 MiB buffer:
/// the data goes from PgVault's buffer to the disk without a copy into the page cache, which on the machines measured
/// costs about a third of the CPU of buffered writing and leaves nothing dirty for the final <c>sync</c> to flush (see
/// bench/README.md, bench/restore). A file's last partial 4 KiB block is written through the page cache. Filesystems
/// without direct I/O (tmpfs, some network filesystems) refuse it with EINVAL: the writer then falls back to ordinary
/// buffered writes for the rest of the restore and says so once. Not thread-safe: one writer per extraction.
/// </summary>
internal sealed class RestoredFileWriter(ILogger logger, bool directIo)
{
    private const int Alignment = 4096;
    private const int BufferBytes = 1 << 20;
    private const int FGetFl = 3;
    private const int FSetFl = 4;
    private const int EInval = 22;

    private byte[]? _array;
    private int _alignedOffset;
    private bool _direct = directIo && OperatingSystem.IsLinux() && ODirect != 0;

    /// <summary>Whether files are (still) written with direct I/O.</summary>
    public bool DirectIo => _direct;

    /// <summary>O_DIRECT's value on this architecture (0 when unknown: no direct I/O).</summary>
    private static int ODirect => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => 0,
    };

    /// <summary>Creates <paramref name="path"/> (which must not be open elsewhere) with <paramref name="data"/>'s bytes.</summary>
    public async Task WriteAsync(string path, Stream? data, UnixFileMode mode, CancellationToken ct)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, BufferSize = 0 };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = mode;
        // The stream only opens the file (with its mode): the writes go to its handle at explicit offsets.
        var file = new FileStream(path, options);
        await using var fileDisposal = file.ConfigureAwait(false);
        var handle = file.SafeFileHandle;
        if (data is null)
            return;
        var buffer = Buffer();
        var direct = _direct && SetDirect(handle, on: true, path);
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
                return;
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
                    // through the page cache, and no direct I/O for the rest of the restore.
                    _direct = direct = false;
                    _ = SetDirect(handle, on: false, path);
                    logger.LogInformation("restore: direct I/O write to '{Path}' failed ({Message}); writing through the page cache", path, e.Message);
                    await RandomAccess.WriteAsync(handle, buffer[..whole], position, ct).ConfigureAwait(false);
                }

                position += whole;
            }

            if (whole < filled)
            {
                // The file's unaligned tail (only ever with direct I/O on): through the page cache.
                _ = SetDirect(handle, on: false, path);
                direct = false;
                await RandomAccess.WriteAsync(handle, buffer[whole..filled], position, ct).ConfigureAwait(false);
                position += filled - whole;
            }

            if (filled < BufferBytes)
                return;
        }
    }

    /// <summary>The aligned buffer, allocated pinned on first use (direct I/O needs a 4 KiB-aligned address).</summary>
    private Memory<byte> Buffer()
    {
        if (_array is null)
        {
            _array = GC.AllocateUninitializedArray<byte>(BufferBytes + Alignment, pinned: true);
            var address = Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0).ToInt64();
            _alignedOffset = (int)((Alignment - (address % Alignment)) % Alignment);
        }

        return _array.AsMemory(_alignedOffset, BufferBytes);
    }

    /// <summary>
    /// Turns O_DIRECT on or off for an open file; true when it is now as asked. A filesystem that refuses direct I/O
    /// turns it off for the rest of the restore.
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
            logger.LogInformation("restore: the filesystem of '{Path}' does not support direct I/O; writing through the page cache", path);
            return false;
        }

        throw new IOException($"unable to {(on ? "enable" : "disable")} direct I/O on '{path}' (fcntl: {new Win32Exception(errno).Message})", errno);
    }

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Fcntl(int fd, int cmd, int arg);
    }
}
